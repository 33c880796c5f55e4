import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { EXPECTED_REVISION_PATTERN, ORGCODE_PATTERN } from '@ipm/core';
import type { SourceRefDto } from '@ipm/core';
import { checkKpiRecord, KPI_RECORD_FIELDS, kpiKey } from '@ipm/kpis';
import { KpiService, type KpiWriteScope } from '@ipm/kpis';
import type { ReportEntry } from '../formats';
import { describeJsonError } from '../formats/ndjson';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import type { CsvMapping, CsvShape, ImportRecord } from './import-records';
import type { ChunkResult, ImportTarget } from './targets';
import { bulkJobCaller, describeAppError } from './webhook-import';

/** `/kpi/record`'s body fields besides `kpi`. */
const BODY_FIELDS = ['expected_revision', 'reason', 'source_refs', 'request_context'] as const;
const SNAPSHOT_FIELDS: readonly string[] = KPI_RECORD_FIELDS;
const LINE_FIELDS = new Set<string>(['kpi', ...BODY_FIELDS, ...KPI_RECORD_FIELDS]);
/** CSV cells read as JSON (objects, arrays); `value` as a JSON number. */
const CSV_JSON_FIELDS = new Set(['kpi', 'source_refs', 'request_context']);
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const CONTEXT_SOURCES = ['session', 'api_key', 'system', 'import'];

/**
 * CSV for KPIs: one snapshot per row. Columns: the snapshot's fields (`kpi_code`, `bucket`,
 * `bucket_start`, `value`, optionally `scope`, `bucket_end`) and `expected_revision`, `reason`;
 * or the request body's own shape (a `kpi` column of JSON text). `value` is a number as text,
 * `source_refs` and `request_context` JSON text; an empty cell is an absent field. No column is
 * required by the header: a row without a snapshot is reported as such.
 */
export const KPI_CSV: CsvShape = {
  required: [],
  optional: [...KPI_RECORD_FIELDS, 'kpi', ...BODY_FIELDS],
  toValue(fields): CsvMapping {
    const value: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const [name, text] of Object.entries(fields)) {
      if (text === '') continue;
      if (CSV_JSON_FIELDS.has(name)) {
        try {
          value[name] = JSON.parse(text);
        } catch (err) {
          problems.push(`${name}: ${describeJsonError(err)}`);
        }
      } else if (name === 'value') value[name] = JSON_NUMBER.test(text.trim()) ? Number(text) : text;
      else value[name] = text;
    }
    return problems.length ? { error: problems.join('; ') } : { value };
  },
};

/** One line as a `/kpi/record` request: the snapshot and the body's other fields, checked by hand. */
export interface KpiLine {
  kpi: Record<string, unknown>;
  expected_revision?: string | number;
  reason?: string;
  source_refs?: SourceRefDto[];
  request_context?: { orgcode?: string; actor?: string; context_source?: string };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A line (NDJSON object or CSV row) as a `/kpi/record` request, or why it is not one: either the
 * request body (`{ kpi: {…}, expected_revision?, reason?, source_refs?, request_context? }`) or the
 * same with the snapshot's fields at the top level (`{ kpi_code, bucket, …, expected_revision? }`,
 * as CSV rows are). The shape checks of the route's DTOs, without class-transformer's per-object
 * cost; the snapshot itself is checked by KpiService.upsert (the same rules as the route).
 */
export function toKpiLine(value: Record<string, unknown>, orgcode: string): { line: KpiLine } | { error: string } {
  const problems: string[] = [];
  for (const key of Object.keys(value)) if (!LINE_FIELDS.has(key)) problems.push(`property ${key} should not exist`);
  const flat = Object.keys(value).filter((k) => SNAPSHOT_FIELDS.includes(k));
  let kpi: Record<string, unknown> | undefined;
  if (value.kpi !== undefined) {
    if (flat.length) problems.push(`give the snapshot as kpi or as top-level fields, not both (${flat.join(', ')})`);
    if (!isPlainObject(value.kpi)) problems.push('kpi must be an object');
    else {
      kpi = value.kpi;
      for (const key of Object.keys(kpi)) {
        if (!SNAPSHOT_FIELDS.includes(key)) problems.push(`property kpi.${key} should not exist`);
      }
    }
  } else if (flat.length) kpi = Object.fromEntries(flat.map((k) => [k, value[k]]));
  else problems.push('kpi must be an object (or give kpi_code, bucket, bucket_start and value)');

  const { expected_revision, reason, source_refs, request_context } = value;
  if (
    expected_revision !== undefined &&
    !(typeof expected_revision === 'string' && EXPECTED_REVISION_PATTERN.test(expected_revision)) &&
    !(typeof expected_revision === 'number' && Number.isSafeInteger(expected_revision) && expected_revision > 0)
  ) {
    problems.push('expected_revision must be a positive integer as a string');
  }
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1000)) {
    problems.push('reason must be a string of at most 1000 characters');
  }
  if (source_refs !== undefined && !isSourceRefs(source_refs)) {
    problems.push('source_refs must be at most 20 objects { kind (1-64 characters), id (1-200 characters) }');
  }
  if (request_context !== undefined) problems.push(...contextProblems(request_context, orgcode));
  if (problems.length || kpi === undefined) return { error: problems.join('; ') };

  const line: KpiLine = { kpi };
  if (expected_revision !== undefined) line.expected_revision = expected_revision as string | number;
  if (reason !== undefined) line.reason = reason as string;
  if (source_refs !== undefined) line.source_refs = source_refs as SourceRefDto[];
  if (request_context !== undefined) line.request_context = request_context as KpiLine['request_context'];
  return { line };
}

function isSourceRefs(value: unknown): value is SourceRefDto[] {
  return (
    Array.isArray(value) &&
    value.length <= 20 &&
    value.every(
      (r) =>
        isPlainObject(r) &&
        Object.keys(r).every((k) => k === 'kind' || k === 'id') &&
        typeof r.kind === 'string' &&
        r.kind.length >= 1 &&
        r.kind.length <= 64 &&
        typeof r.id === 'string' &&
        r.id.length >= 1 &&
        r.id.length <= 200,
    )
  );
}

function contextProblems(value: unknown, orgcode: string): string[] {
  if (!isPlainObject(value)) return ['request_context must be an object'];
  const problems: string[] = [];
  for (const key of Object.keys(value)) {
    if (!['orgcode', 'actor', 'context_source'].includes(key)) {
      problems.push(`property request_context.${key} should not exist`);
    }
  }
  const { orgcode: claimed, actor, context_source } = value;
  if (claimed !== undefined && (typeof claimed !== 'string' || !ORGCODE_PATTERN.test(claimed))) {
    problems.push('request_context.orgcode must be 1-64 of A-Z a-z 0-9 _ . -');
  } else if (claimed !== undefined && claimed !== orgcode) {
    problems.push("request_context.orgcode must equal the job's orgcode");
  }
  if (actor !== undefined && (typeof actor !== 'string' || actor.length > 200)) {
    problems.push('request_context.actor must be a string of at most 200 characters');
  }
  if (context_source !== undefined && !CONTEXT_SOURCES.includes(context_source as string)) {
    problems.push(`request_context.context_source must be one of ${CONTEXT_SOURCES.join(', ')}`);
  }
  return problems;
}

/**
 * Imports KPI snapshots through `/kpi/record`'s upsert (KpiService.upsert, in the chunk's
 * transaction): the same checks (kpi_code, finite value, bucket alignment), the same revision rules
 * (a line replacing a stored snapshot needs its `expected_revision`: 428/409 become report lines)
 * and an audit row per snapshot, with the job as a source ref. A line repeating the key that an
 * earlier line of its chunk recorded is refused as a duplicate (lines of earlier chunks are stored
 * by then: a repeat meets that snapshot and needs its revision, as any replacement does). Upsert failures
 * are returned, not thrown, and touch nothing the database could refuse, so the chunk carries on
 * without savepoints. A dry run checks each line against the stored snapshots and stores nothing.
 */
@Injectable()
export class KpiImport implements ImportTarget {
  readonly csv = KPI_CSV;

  constructor(private readonly kpis: KpiService) {}

  async apply(em: EntityManager, job: BulkJobEntity, records: readonly ImportRecord[]): Promise<ChunkResult> {
    const dryRun = job.options.dry_run === true;
    const errors: ReportEntry[] = [];
    /** The line that recorded each snapshot key in this chunk. */
    const recorded = new Map<string, number>();
    let succeeded = 0;
    for (const record of records) {
      const refused = (error: string): void =>
        void errors.push({ line: record.line, error, raw: record.raw, rawBytes: record.rawBytes });
      const shaped = record.value === undefined ? { error: 'no value' } : toKpiLine(record.value, job.orgcode);
      if ('error' in shaped) {
        refused(shaped.error);
        continue;
      }
      const { line } = shaped;
      const checked = checkKpiRecord(line.kpi);
      const key = 'record' in checked ? kpiKey(checked.record) : undefined;
      const first = key === undefined ? undefined : recorded.get(key);
      if (first !== undefined) {
        refused(`duplicate snapshot: same kpi_code, scope, bucket and bucket_start as line ${first}`);
        continue;
      }
      const result = await this.kpis.upsert(em, this.scopeOf(job, line), line.kpi, line.expected_revision, {
        dryRun,
      });
      if (!result.ok) {
        refused(describeAppError(result.error));
        continue;
      }
      succeeded++;
      if (key !== undefined) recorded.set(key, record.line);
    }
    return { succeeded, errors };
  }

  /** The job's creator, through the worker, in the job's tenant and app; the audit row points at the job. */
  private scopeOf(job: BulkJobEntity, line: KpiLine): KpiWriteScope {
    return {
      orgcode: job.orgcode,
      app_id: job.app_id,
      actor: job.created_by,
      actor_type: bulkJobCaller(job).kind,
      request: {
        reason: line.reason,
        source_refs: [...(line.source_refs ?? []), { kind: 'bulk_job', id: job.job_id }],
        request_context: { ...line.request_context, context_source: line.request_context?.context_source ?? 'import' },
      },
    };
  }
}
