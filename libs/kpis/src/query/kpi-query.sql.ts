import { isoTimestampSql } from '@ipm/persistence';
import type { KpiBucket } from '../buckets';
import { DATE_TRUNC_UNIT, type KpiRollupFn } from './kpi-rollup';

/**
 * The two series queries. Both read one range of the unique index `uq_kpi_snapshots_key`
 * (orgcode, kpi_code, bucket, scope, bucket_start) in bucket_start order: the tenant is always $1,
 * and an application principal's app is a filter on the rows of that range.
 *
 * Parameters: $1 orgcode, $2 kpi_code, $3 bucket (of the stored snapshots), $4 scope, $5 lower
 * bound, $6 upper bound (exclusive), $7 row limit, $8 app_id when app-bound.
 */
const RANGE_WHERE = 'orgcode = $1 AND kpi_code = $2 AND bucket = $3 AND scope = $4';

/** Snapshots in `[$5, $6)`, or in `($5, $6)` after a page's last bucket_start (`exclusiveFrom`). */
/**
 * A snapshot as `/kpi/query` sends it (toKpiDto's fields), its times already ISO text and its
 * revision text: a 256-row page then needs no Date parsing or formatting in the api. (The ORDER BY
 * names the table's column: the bare name would be this text output, a sort instead of the index.)
 */
const SERIES_COLUMNS = `kpi_id, orgcode, app_id, kpi_code, scope, bucket, ${isoTimestampSql('bucket_start')} AS bucket_start,
  ${isoTimestampSql('bucket_end')} AS bucket_end, value, ${isoTimestampSql('created_at')} AS created_at, created_by,
  ${isoTimestampSql('updated_at')} AS updated_at, updated_by, revision::text AS revision`;

export function seriesSql(options: { exclusiveFrom: boolean; appBound: boolean }): string {
  return (
    `SELECT ${SERIES_COLUMNS} FROM kpi_snapshots WHERE ${RANGE_WHERE} ` +
    `AND bucket_start ${options.exclusiveFrom ? '>' : '>='} $5 AND bucket_start < $6` +
    `${options.appBound ? ' AND app_id = $8' : ''} ORDER BY kpi_snapshots.bucket_start LIMIT $7`
  );
}

/** How each function folds a coarse bucket's fine values; `last` is the value of its latest fine bucket. */
const AGGREGATES: Readonly<Record<KpiRollupFn, string>> = {
  sum: 'sum(value)',
  avg: 'avg(value)',
  min: 'min(value)',
  max: 'max(value)',
  last: '(array_agg(value ORDER BY bucket_start DESC))[1]',
};

/** A row of a roll-up: one coarse bucket that has fine snapshots. */
export interface RollupRow {
  period_start: Date;
  value: number;
  count: number;
}

/**
 * Fine snapshots (bucket $3) in `[$5, $6)` folded per coarse bucket, the coarse start computed by
 * `date_trunc` in UTC (ISO weeks: Monday), ordered by it. Unit and aggregate come from fixed maps,
 * never from the request's text.
 */
export function rollupSql(options: { coarse: KpiBucket; fn: KpiRollupFn; appBound: boolean }): string {
  const unit = DATE_TRUNC_UNIT[options.coarse];
  return (
    `SELECT date_trunc('${unit}', bucket_start, 'UTC') AS period_start, ${AGGREGATES[options.fn]} AS value, ` +
    `count(*)::int AS count FROM kpi_snapshots WHERE ${RANGE_WHERE} AND bucket_start >= $5 AND bucket_start < $6` +
    `${options.appBound ? ' AND app_id = $8' : ''} GROUP BY 1 ORDER BY 1 LIMIT $7`
  );
}
