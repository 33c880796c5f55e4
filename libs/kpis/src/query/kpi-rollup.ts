import type { ErrorDetail } from '@ipm/core';
import { bucketEndOf, bucketStartOf, KPI_BUCKETS, type KpiBucket } from '../buckets';

/**
 * Roll-ups: finer snapshots (e.g. hourly) aggregated into a coarser bucket (e.g. daily) with the
 * same UTC bucket maths as /kpi/record. PostgreSQL does the aggregation (kpi-query.sql.ts); this file
 * holds what is decided before the query: which pairs nest, the window in fine rows, the keyset bound.
 */
export const KPI_ROLLUP_FNS = ['sum', 'avg', 'min', 'max', 'last'] as const;
export type KpiRollupFn = (typeof KPI_ROLLUP_FNS)[number];
export const KPI_ROLLUP_FN_MESSAGE = `fn must be one of ${KPI_ROLLUP_FNS.join(', ')}`;

/** `date_trunc` units, which in UTC give exactly `bucketStartOf` (`week` is ISO: Monday 00:00). */
export const DATE_TRUNC_UNIT: Readonly<Record<KpiBucket, 'hour' | 'day' | 'week' | 'month'>> = {
  hourly: 'hour',
  daily: 'day',
  weekly: 'week',
  monthly: 'month',
};

const rank = (bucket: KpiBucket): number => KPI_BUCKETS.indexOf(bucket);

/**
 * Why snapshots of `from` cannot be rolled up into `to`, or undefined when they can: `from` must be
 * strictly finer, and each `from` bucket must lie within one `to` bucket (a week can straddle two
 * months, so weekly does not roll up into monthly).
 */
export function rollupMismatch(from: KpiBucket, to: KpiBucket): string | undefined {
  if (rank(from) >= rank(to)) {
    return `rollup.from_bucket must be finer than bucket: ${from} snapshots cannot be rolled up into ${to} buckets`;
  }
  if (from === 'weekly' && to === 'monthly') {
    return 'rollup.from_bucket weekly cannot be rolled up into monthly buckets: a week can straddle two months';
  }
  return undefined;
}

/** The first instant at or after `t` where a `bucket` starts. */
export function ceilToBucket(bucket: KpiBucket, t: Date): Date {
  const start = bucketStartOf(bucket, t);
  return start.getTime() === t.getTime() ? start : bucketEndOf(bucket, start);
}

/** A half-open range `[from, to)` of bucket_start. */
export interface InstantRange {
  from: Date;
  to: Date;
}

/**
 * The fine snapshots to aggregate for the coarse buckets whose start is in `window`: those starting
 * in `[ceil(window.from), ceil(window.to))`, ceilings to the coarse bucket, so that every coarse
 * bucket shown is whole and only those starting in the window are shown.
 */
export function rollupFineRange(coarse: KpiBucket, window: InstantRange): InstantRange {
  return { from: ceilToBucket(coarse, window.from), to: ceilToBucket(coarse, window.to) };
}

/**
 * The keyset bound of a page after the coarse bucket `after` (the last one served): the fine rows
 * from the end of that bucket on, so a page never repeats or skips a bucket.
 */
export function rollupPageFrom(coarse: KpiBucket, range: InstantRange, after: Date | undefined): Date {
  if (after === undefined) return range.from;
  const next = bucketEndOf(coarse, bucketStartOf(coarse, after));
  return next > range.from ? next : range.from;
}

/** The request's window checked: both instants parsed and `from < to`, else details naming the field. */
export function checkWindow(
  fromText: string,
  toText: string,
  parse: (text: string) => Date | undefined,
): { window: InstantRange } | { details: ErrorDetail[] } {
  const details: ErrorDetail[] = [];
  const example = '2026-01-01T00:00:00Z';
  const from = parse(fromText);
  const to = parse(toText);
  if (!from)
    details.push({
      field: 'from_utc',
      message: `from_utc must be an ISO 8601 date-time with a time zone, e.g. ${example}`,
    });
  if (!to)
    details.push({
      field: 'to_utc',
      message: `to_utc must be an ISO 8601 date-time with a time zone, e.g. ${example}`,
    });
  if (!from || !to) return { details };
  if (from.getTime() >= to.getTime()) {
    return {
      details: [
        { field: 'to_utc', message: `to_utc (${to.toISOString()}) must be after from_utc (${from.toISOString()})` },
      ],
    };
  }
  return { window: { from, to } };
}
