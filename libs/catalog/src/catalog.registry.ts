import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import ipmV1 from './definitions/ipm.v1.json';
import rfpV1 from './definitions/rfp.v1.json';
import { CatalogFile, EventTypeEntry, eventTypeName, JsonSchema } from './catalog.types';
import { EventTypeEntity } from './event-type.entity';
import { failuresText, SchemaCompiler, ValidationFailure } from './schema-compiler';

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
export class CatalogRegistry {
  readonly compiler = new SchemaCompiler();
  private readonly platform: ReadonlyMap<string, EventTypeEntry>;

  constructor(@InjectRepository(EventTypeEntity) private readonly repo: Repository<EventTypeEntity>) {
    const entries = platformEntries(CATALOG_FILES);
    for (const entry of entries) {
      const bad = this.compiler.checkSchema(entry.schema);
      if (bad) throw new Error(`catalog: ${entry.event_type}: ${bad}`);
      const failures = this.validate(entry, entry.specimen);
      if (failures.length) throw new Error(`catalog: ${entry.event_type} specimen: ${failuresText(failures)}`);
    }
    this.platform = new Map(entries.map((e) => [e.event_type, e]));
  }

  platformTypes(): EventTypeEntry[] {
    return [...this.platform.values()];
  }

  isPlatformService(service: string): boolean {
    return CATALOG_FILES.some((f) => f.service === service);
  }

  /** The platform's types and the tenant's own. */
  async list(orgcode: string): Promise<EventTypeEntry[]> {
    const own = await this.repo.find({ where: { orgcode } });
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
      const rows = await this.repo.find({ where: { orgcode, event_type: In(rest) } });
      for (const row of rows) found.set(row.event_type, toEntry(row));
    }
    return found;
  }

  /** Failures of `payload` against the type's schema; the compiled schema is cached per version. */
  validate(entry: EventTypeEntry, payload: unknown): ValidationFailure[] {
    const key =
      entry.source === 'platform'
        ? `p:${entry.event_type}:${entry.version}`
        : `t:${entry.orgcode}:${entry.event_type}:${entry.revision ?? 0}`; // every change bumps the revision
    return this.compiler.validate(key, entry.schema, payload);
  }
}
