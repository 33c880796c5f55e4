import { Injectable } from '@nestjs/common';
import { isISO8601 } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { CatalogRegistry } from '@ipm/catalog';
import { EVENT_ID_PATTERN, PublishEventDto } from '@ipm/events';
import { CHANNEL_CODE_PATTERN, LOGICAL_GUID_PATTERN, ZONED_TIME_PATTERN } from '@ipm/events';
import { EventStore, NewEvent, PreparedInsert } from '@ipm/events';
import { planAgainstCatalog } from '@ipm/events';
import type { ReportEntry } from '../formats';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import type { CsvMapping, CsvShape, ImportRecord } from './import-records';
import type { ChunkResult, ChunkWrite, ImportTarget } from './targets';

const OPTIONAL_FIELDS = ['event_id', 'occurred_at', 'logical_guid', 'channel_code'] as const;
const EVENT_FIELDS = new Set<string>(['event_type', 'payload', ...OPTIONAL_FIELDS]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalText(value: unknown, name: string, pattern: RegExp, message: string, problems: string[]): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string') problems.push(`${name} must be a string`);
  else if (!pattern.test(value)) problems.push(message);
}

/**
 * The checks the publish DTO makes on one `/event/publish` item (same rules, same patterns, same
 * messages), without class-transformer's per-object cost: a line is a publish item or the reason
 * it is not. Unknown properties are refused, as the app's validation pipe refuses them.
 */
export function toPublishItem(value: Record<string, unknown>): { item: PublishEventDto } | { error: string } {
  const problems: string[] = [];
  for (const key of Object.keys(value)) if (!EVENT_FIELDS.has(key)) problems.push(`property ${key} should not exist`);
  const { event_type, payload, event_id, occurred_at, logical_guid, channel_code } = value;
  if (typeof event_type !== 'string') problems.push('event_type must be a string');
  else if (event_type.length < 1 || event_type.length > 200) {
    problems.push('event_type must be longer than or equal to 1 and shorter than or equal to 200 characters');
  }
  if (!isPlainObject(payload)) problems.push('payload must be an object');
  optionalText(event_id, 'event_id', EVENT_ID_PATTERN, 'event_id must be 1-100 of A-Z a-z 0-9 _ . : -', problems);
  optionalText(
    logical_guid,
    'logical_guid',
    LOGICAL_GUID_PATTERN,
    'logical_guid must be 1-200 characters without control characters',
    problems,
  );
  optionalText(
    channel_code,
    'channel_code',
    CHANNEL_CODE_PATTERN,
    'channel_code must be 1-100 of A-Z a-z 0-9 _ . : -',
    problems,
  );
  if (occurred_at !== undefined && occurred_at !== null) {
    if (typeof occurred_at !== 'string' || !isISO8601(occurred_at, { strict: true })) {
      problems.push('occurred_at must be a valid ISO 8601 date string');
    } else if (!ZONED_TIME_PATTERN.test(occurred_at)) problems.push('occurred_at must carry a time zone (Z or +hh:mm)');
  }
  if (problems.length) return { error: problems.join('; ') };
  const item = { event_type, payload } as PublishEventDto;
  if (typeof event_id === 'string') item.event_id = event_id;
  if (typeof occurred_at === 'string') item.occurred_at = occurred_at;
  if (typeof logical_guid === 'string') item.logical_guid = logical_guid;
  if (typeof channel_code === 'string') item.channel_code = channel_code;
  return { item };
}

/** CSV for events: `event_type`, `payload` (JSON text), optionally the other publish fields; empty = absent. */
export const EVENT_CSV: CsvShape = {
  required: ['event_type', 'payload'],
  optional: OPTIONAL_FIELDS,
  toValue(fields): CsvMapping {
    let payload: unknown;
    try {
      payload = JSON.parse(fields.payload);
    } catch (err) {
      return { error: `payload is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
    }
    const value: Record<string, unknown> = { event_type: fields.event_type, payload };
    for (const name of OPTIONAL_FIELDS) {
      const text = fields[name];
      if (text !== undefined && text !== '') value[name] = text;
    }
    return { value };
  },
};

/**
 * Imports events through `/event/publish`'s path: the same item checks, the same catalog
 * validation (planPublish) and the same store (EventStore.insert: events + outbox rows, so the
 * fan-out delivers them), in the caller's chunk transaction.
 */
@Injectable()
export class EventImport implements ImportTarget {
  readonly csv = EVENT_CSV;

  constructor(
    private readonly catalog: CatalogRegistry,
    private readonly store: EventStore,
  ) {}

  async apply(em: EntityManager, job: BulkJobEntity, records: readonly ImportRecord[]): Promise<ChunkResult> {
    return (await this.prepare(job, records))(em, job);
  }

  /**
   * Everything but the insert, ahead of the chunk's transaction: item checks, catalog validation and
   * the batch's encoding. The write then stores the rows (or, in a dry run, looks up which exist).
   */
  async prepare(job: BulkJobEntity, records: readonly ImportRecord[]): Promise<ChunkWrite> {
    const errors: ReportEntry[] = [];
    const items: PublishEventDto[] = [];
    const sources: ImportRecord[] = [];
    for (const record of records) {
      const shaped = record.value === undefined ? { error: 'no value' } : toPublishItem(record.value);
      if ('error' in shaped) errors.push(entry(record, shaped.error));
      else {
        items.push(shaped.item);
        sources.push(record);
      }
    }
    const plan = await planAgainstCatalog(this.catalog, job.orgcode, items);
    const firstLine = new Map(plan.accepted.map((a) => [a.event_id, sources[a.index].line]));
    for (const v of plan.verdicts) {
      const record = sources[v.index];
      if (v.status === 'duplicate') {
        errors.push(
          entry(record, `duplicate event_id ${v.event_id ?? ''}: repeats line ${firstLine.get(v.event_id ?? '')}`),
        );
      } else if (v.status !== 'accepted') errors.push(entry(record, v.error?.message ?? v.status));
    }

    const rows = plan.accepted.map((a): NewEvent => ({
      event_id: a.event_id,
      orgcode: job.orgcode,
      app_id: job.app_id,
      event_type: a.entry.event_type,
      service: a.entry.service,
      action: a.entry.action,
      payload: a.item.payload,
      logical_guid: a.item.logical_guid ?? null,
      channel_code: a.item.channel_code ?? null,
      source: 'api',
      actor: job.created_by,
      occurred_at: a.item.occurred_at === undefined ? null : new Date(a.item.occurred_at),
      // An NDJSON line is the JSON of its item: PostgreSQL takes the payload out of it as it is.
      ...(job.format === 'ndjson' ? { payload_source: sources[a.index].raw } : {}),
    }));
    const prepared = job.options.dry_run ? undefined : this.store.prepare(rows);
    return async (em) => {
      const stored = prepared ? await this.insert(em, prepared) : await this.existing(em, job.orgcode, rows);
      const chunkErrors = [...errors];
      let succeeded = 0;
      rows.forEach((row, i) => {
        if (stored[i]) succeeded++;
        else {
          const record = sources[plan.accepted[i].index];
          chunkErrors.push(entry(record, `duplicate event_id ${row.event_id}: already stored`));
        }
      });
      chunkErrors.sort((a, b) => a.line - b.line);
      return { succeeded, errors: chunkErrors };
    };
  }

  /** Stores the rows; true for each one stored, false for a duplicate of a stored event. */
  private async insert(em: EntityManager, prepared: PreparedInsert): Promise<boolean[]> {
    const result = await this.store.insertPrepared(em, prepared);
    return result.outcomes.map((o) => o.status === 'stored');
  }

  /** Dry run: true for each row that would be stored (its event_id is not taken yet). */
  private async existing(em: EntityManager, orgcode: string, rows: readonly NewEvent[]): Promise<boolean[]> {
    if (rows.length === 0) return [];
    const found = await em.query<Array<{ event_id: string }>>(
      `SELECT event_id FROM events WHERE orgcode = $1 AND event_id = ANY($2::varchar[])`,
      [orgcode, rows.map((r) => r.event_id)],
    );
    const taken = new Set(found.map((r) => r.event_id));
    return rows.map((r) => !taken.has(r.event_id));
  }
}

function entry(record: ImportRecord, error: string): ReportEntry {
  return { line: record.line, error, raw: record.raw, rawBytes: record.rawBytes };
}
