import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { In } from 'typeorm';
import { AppConfig } from '@ipm/core';
import ipmV1 from './definitions/ipm.v1.json';
import rfpV1 from './definitions/rfp.v1.json';
import { CatalogFile, EventTypeEntry, eventTypeName, JsonSchema } from './catalog.types';
import type { EventTypeEntity } from './event-type.entity';
import { EventTypesRepository } from './event-types.repository';
import { failuresText, SchemaCompiler, ValidationFailure } from './schema-compiler';
import { SchemaValidationPool } from './validation/validation-pool';
import type { TaskResult } from './validation/validation.protocol';

/** A payload's verdict: its failures against the schema (none when valid), or `exceeded` when cut off. */
export type PayloadVerdict = ValidationFailure[] | 'exceeded';

export interface PayloadToValidate {
  entry: EventTypeEntry;
  payload: unknown;
}

/** The shipped catalog files: one per service and version. */
export const CATALOG_FILES: readonly CatalogFile[] = [ipmV1 as CatalogFile, rfpV1 as CatalogFile];

function platformEntries(files: readonly CatalogFile[]): EventTypeEntry[] {
  return files.flatMap((file) =>
    file.event_types.map((t) => ({
      event_type: eventTypeName(file.service, t.action),
      service: file.service,
      action: t.action,
      version: t.version,
      description: t.description,
      deprecated_at: t.deprecated_at,
      schema: t.schema,
      specimen: t.specimen,
      source: 'platform' as const,
    })),
  );
}

export function toEntry(row: EventTypeEntity): EventTypeEntry {
  return {
    event_type: row.event_type,
    service: row.service,
    action: row.action,
    version: row.version,
    description: row.description,
    deprecated_at: row.deprecated_at?.toISOString() ?? null,
    schema: row.schema as JsonSchema,
    specimen: row.specimen,
    source: 'tenant',
    revision: row.revision,
    orgcode: row.orgcode,
  };
}

/**
 * The event catalog: platform types from definitions/*.json (checked at boot: each schema
 * compiles and each specimen validates) plus each tenant's own types from PostgreSQL.
 */
@Injectable()
export class CatalogRegistry implements OnApplicationShutdown {
  /** Compiles the platform's own schemas (trusted, on the event loop); tenants' run in `pool`. */
  readonly compiler = new SchemaCompiler();
  private readonly pool: SchemaValidationPool;
  private readonly logger = new Logger('CatalogRegistry');
  /** How long one validation against a tenant's schema may run (SCHEMA_VALIDATION_DEADLINE_MS). */
  readonly validationDeadlineMs: number;
  private readonly platform: ReadonlyMap<string, EventTypeEntry>;

  constructor(
    private readonly repo: EventTypesRepository,
    config: AppConfig,
  ) {
    const entries = platformEntries(CATALOG_FILES);
    for (const entry of entries) {
      const bad = this.compiler.checkSchema(entry.schema);
      if (bad) throw new Error(`catalog: ${entry.event_type}: ${bad}`);
      const failures = this.validatePlatform(entry, entry.specimen);
      if (failures.length) throw new Error(`catalog: ${entry.event_type} specimen: ${failuresText(failures)}`);
    }
    this.platform = new Map(entries.map((e) => [e.event_type, e]));
    this.validationDeadlineMs = config.SCHEMA_VALIDATION_DEADLINE_MS;
    this.pool = new SchemaValidationPool({
      threads: config.SCHEMA_VALIDATION_THREADS,
      deadlineMs: config.SCHEMA_VALIDATION_DEADLINE_MS,
      onThreadError: (err) => this.logger.error(`schema validation thread failed: ${err.message}`),
    });
  }

  /** Last, once the api has answered its in-flight requests and the worker has finished its jobs. */
  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
  }

  platformTypes(): EventTypeEntry[] {
    return [...this.platform.values()];
  }

  isPlatformService(service: string): boolean {
    return CATALOG_FILES.some((f) => f.service === service);
  }

  /** The platform's types and the tenant's own. */
  async list(orgcode: string): Promise<EventTypeEntry[]> {
    const own = await this.repo.find({ orgcode }, {});
    return [...this.platform.values(), ...own.map(toEntry)];
  }

  async find(orgcode: string, eventType: string): Promise<EventTypeEntry | undefined> {
    return (await this.findMany(orgcode, [eventType])).get(eventType);
  }

  /** Looks up several types with at most one query (for a publish batch). */
  async findMany(orgcode: string, eventTypes: readonly string[]): Promise<Map<string, EventTypeEntry>> {
    const found = new Map<string, EventTypeEntry>();
    const rest: string[] = [];
    for (const t of new Set(eventTypes)) {
      const platform = this.platform.get(t);
      if (platform) found.set(t, platform);
      else rest.push(t);
    }
    if (rest.length) {
      const rows = await this.repo.find({ orgcode }, { event_type: In(rest) });
      for (const row of rows) found.set(row.event_type, toEntry(row));
    }
    return found;
  }

  /** Failures of `payload` against one of the platform's own schemas (compiled once, run on the event loop). */
  validatePlatform(entry: EventTypeEntry, payload: unknown): ValidationFailure[] {
    if (entry.source !== 'platform') throw new Error(`${entry.event_type} is a tenant's type: use validateMany`);
    return this.compiler.validate(`p:${entry.event_type}:${entry.version}`, entry.schema, payload);
  }

  /**
   * Each payload's verdict against its type's schema: the platform's on the event loop, tenants' in the
   * validation pool with a deadline (each tenant schema compiled once per revision in each thread).
   */
  async validateMany(orgcode: string, items: readonly PayloadToValidate[]): Promise<PayloadVerdict[]> {
    const verdicts: PayloadVerdict[] = new Array<PayloadVerdict>(items.length);
    const pooled: number[] = [];
    items.forEach(({ entry, payload }, i) => {
      if (entry.source === 'platform') verdicts[i] = this.validatePlatform(entry, payload);
      else pooled.push(i);
    });
    const results = await this.pool.run(
      orgcode,
      pooled.map((i) => ({
        kind: 'validate' as const,
        // every change of a tenant's type bumps its revision
        key: `t:${items[i].entry.orgcode}:${items[i].entry.event_type}:${items[i].entry.revision ?? 0}`,
        schema: items[i].entry.schema,
        value: items[i].payload,
      })),
    );
    results.forEach((result, k) => {
      verdicts[pooled[k]] = result.kind === 'failures' ? result.failures : result.kind === 'valid' ? [] : 'exceeded';
    });
    return verdicts;
  }

  /**
   * A schema offered at upsert, checked in the validation pool: the cost model (schema-cost.ts), Ajv's meta-schema
   * and compiler, then its specimen.
   */
  async checkSchema(orgcode: string, schema: unknown, specimen: unknown): Promise<TaskResult> {
    const [result] = await this.pool.run(orgcode, [{ kind: 'check', schema, specimen }]);
    return result;
  }
}
