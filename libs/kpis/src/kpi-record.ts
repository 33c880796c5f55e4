import type { ErrorDetail } from '@ipm/core';
import { checkBucketWindow, isKpiBucket, KPI_BUCKETS, type KpiBucket, parseInstant } from './buckets';

/** e.g. `CODE1`, `delivery_success_rate`, `ipm.delivery.latency_p95_ms`. */
export const KPI_CODE_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,99}$/;
export const KPI_CODE_MESSAGE = 'kpi_code must be 1-100 of A-Z a-z 0-9 _ . : - starting with a letter';
/** e.g. `org` (the default), `app:billing`, `region:eu-west`. */
export const KPI_SCOPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
export const KPI_SCOPE_MESSAGE = 'scope must be 1-128 of A-Z a-z 0-9 _ . : / - starting with a letter or digit';
export const KPI_VALUE_MESSAGE = 'value must be a finite number';
export const KPI_BUCKET_MESSAGE = `bucket must be one of ${KPI_BUCKETS.join(', ')}`;
export const KPI_INSTANT_EXAMPLE = '2026-01-01T00:00:00Z';
/** The scope of a snapshot recorded without one (seed 000 shows `"scope": "org"`). */
export const DEFAULT_KPI_SCOPE = 'org';

/** One snapshot as `/kpi/record` takes it (the request's `kpi` object). */
export interface KpiRecordInput {
  kpi_code: string;
  scope?: string;
  bucket: string;
  bucket_start: string;
  bucket_end?: string;
  value: number;
}

/** A checked snapshot: its key (tenant aside) and its value, instants parsed. */
export interface KpiRecord {
  kpi_code: string;
  scope: string;
  bucket: KpiBucket;
  bucket_start: Date;
  bucket_end: Date;
  value: number;
}

export const KPI_RECORD_FIELDS = ['kpi_code', 'scope', 'bucket', 'bucket_start', 'bucket_end', 'value'] as const;

/**
 * Every rule a snapshot must meet, whoever sends it (the route, a bulk import line): types,
 * patterns, a finite value, instants with a zone, `bucket_start` aligned to the bucket in UTC and
 * `bucket_end` (optional) its end. Either the checked record or one detail per bad field (the
 * field named as in the `kpi` object; each message starts with it).
 */
export function checkKpiRecord(
  input: Readonly<Record<string, unknown>>,
): { record: KpiRecord } | { details: ErrorDetail[] } {
  const details: ErrorDetail[] = [];
  const bad = (field: string, message: string): void => void details.push({ field, message });
  const { kpi_code, scope, bucket, bucket_start, bucket_end, value } = input;

  if (typeof kpi_code !== 'string') bad('kpi_code', 'kpi_code must be a string');
  else if (!KPI_CODE_PATTERN.test(kpi_code)) bad('kpi_code', KPI_CODE_MESSAGE);
  if (scope !== undefined && (typeof scope !== 'string' || !KPI_SCOPE_PATTERN.test(scope))) {
    bad('scope', KPI_SCOPE_MESSAGE);
  }
  if (!isKpiBucket(bucket)) bad('bucket', KPI_BUCKET_MESSAGE);
  if (typeof value !== 'number' || !Number.isFinite(value)) bad('value', KPI_VALUE_MESSAGE);
  const start = instant(bucket_start, 'bucket_start', bad);
  const end = bucket_end === undefined ? undefined : instant(bucket_end, 'bucket_end', bad);
  if (details.length || start === undefined || !isKpiBucket(bucket)) return { details };

  const window = checkBucketWindow(bucket, start, end);
  if (!window.ok) return { details: [{ field: window.field, message: window.message }] };
  return {
    record: {
      kpi_code: kpi_code as string,
      scope: (scope as string | undefined) ?? DEFAULT_KPI_SCOPE,
      bucket,
      bucket_start: start,
      bucket_end: window.bucket_end,
      value: value as number,
    },
  };
}

/** The snapshot key within a tenant, as one string (instants normalised: two spellings of one instant are one key). */
export function kpiKey(r: Pick<KpiRecord, 'kpi_code' | 'scope' | 'bucket' | 'bucket_start'>): string {
  return `${r.kpi_code}\u0000${r.scope}\u0000${r.bucket}\u0000${r.bucket_start.toISOString()}`;
}

function instant(value: unknown, field: string, bad: (field: string, message: string) => void): Date | undefined {
  const parsed = typeof value === 'string' ? parseInstant(value) : undefined;
  if (parsed === undefined) {
    bad(field, `${field} must be an ISO 8601 date-time with a time zone, e.g. ${KPI_INSTANT_EXAMPLE}`);
  }
  return parsed;
}
