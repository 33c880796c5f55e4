import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppError, type Cursor, type PageScope, PageTokens } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { bucketEndOf, type KpiBucket, parseInstant } from '../buckets';
import type { KpiQueryRequestDto, KpiQueryResultDto, KpiRollupPointDto } from '../dto/kpi-query.dto';
import { DEFAULT_KPI_SCOPE } from '../kpi-record';
import type { KpiDto } from '../dto/kpi.dto';
import { rollupSql, type RollupRow, seriesSql } from './kpi-query.sql';
import {
  checkWindow,
  type InstantRange,
  type KpiRollupFn,
  rollupFineRange,
  rollupMismatch,
  rollupPageFrom,
} from './kpi-rollup';

const RESOURCE = 'kpi.query';

/**
 * `/kpi/query`: a tenant's series of one KPI, in bucket_start order, keyset-paged on bucket_start
 * (unique within a series). Either the stored snapshots of `bucket`, or finer snapshots rolled up
 * into it. An application principal sees only its app's snapshots.
 */
@Injectable()
export class KpiQueryService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly pages: PageTokens,
  ) {}

  async query(caller: Caller, request: KpiQueryRequestDto): Promise<KpiQueryResultDto> {
    const checked = checkWindow(request.from_utc, request.to_utc, parseInstant);
    if ('details' in checked) throw AppError.validation(checked.details);
    const { window } = checked;
    const rollup = request.rollup;
    if (rollup) {
      const why = rollupMismatch(rollup.from_bucket, request.bucket);
      if (why !== undefined) throw AppError.badRequest(why, 'rollup.from_bucket');
    }
    const scope = request.scope ?? DEFAULT_KPI_SCOPE;
    const page: PageScope = {
      orgcode: caller.orgcode,
      resource: RESOURCE,
      filters: {
        kpi_code: request.kpi_code,
        bucket: request.bucket,
        scope,
        from: window.from.toISOString(),
        to: window.to.toISOString(),
        rollup: rollup ? { from_bucket: rollup.from_bucket, fn: rollup.fn } : null,
        app: caller.app_id,
      },
    };
    const { limit, cursor } = this.pages.read(request, page);
    const after = afterOf(cursor);
    const base: SeriesQuery = {
      orgcode: caller.orgcode,
      app_id: caller.app_id,
      kpi_code: request.kpi_code,
      scope,
      limit,
    };
    const result = rollup
      ? await this.rollupPage(
          { ...base, bucket: request.bucket, from_bucket: rollup.from_bucket, fn: rollup.fn },
          window,
          after,
        )
      : await this.seriesPage({ ...base, bucket: request.bucket }, window, after);
    return { series: result.series, next_token: this.pages.write(page, result.next) };
  }

  /** Stored snapshots with bucket_start in the window, after the last one served. */
  private async seriesPage(
    q: SeriesQuery & { bucket: KpiBucket },
    window: InstantRange,
    after: Date | undefined,
  ): Promise<{ series: KpiQueryResultDto['series']; next?: Cursor }> {
    const sql = seriesSql({ exclusiveFrom: after !== undefined, appBound: q.app_id !== null });
    const rows = await this.dataSource.query<KpiDto[]>(sql, [
      ...params(q, q.bucket, after ?? window.from, window.to),
      ...(q.app_id !== null ? [q.app_id] : []),
    ]);
    const more = rows.length > q.limit;
    if (more) rows.length = q.limit;
    return {
      series: rows,
      next: more ? [rows[rows.length - 1].bucket_start] : undefined,
    };
  }

  /** Coarse buckets folded from the fine snapshots, after the last coarse bucket served. */
  private async rollupPage(
    q: SeriesQuery & { bucket: KpiBucket; from_bucket: KpiBucket; fn: KpiRollupFn },
    window: InstantRange,
    after: Date | undefined,
  ): Promise<{ series: KpiRollupPointDto[]; next?: Cursor }> {
    const fine = rollupFineRange(q.bucket, window);
    const from = rollupPageFrom(q.bucket, fine, after);
    if (from >= fine.to) return { series: [] };
    const sql = rollupSql({ coarse: q.bucket, fn: q.fn, appBound: q.app_id !== null });
    const rows = await this.dataSource.query<RollupRow[]>(sql, [
      ...params(q, q.from_bucket, from, fine.to),
      ...(q.app_id !== null ? [q.app_id] : []),
    ]);
    const more = rows.length > q.limit;
    if (more) rows.length = q.limit;
    const series = rows.map((r): KpiRollupPointDto => ({
      kpi_code: q.kpi_code,
      scope: q.scope,
      bucket: q.bucket,
      bucket_start: r.period_start.toISOString(),
      bucket_end: bucketEndOf(q.bucket, r.period_start).toISOString(),
      value: r.value,
      count: r.count,
    }));
    return { series, next: more ? [series[series.length - 1].bucket_start] : undefined };
  }
}

interface SeriesQuery {
  orgcode: string;
  app_id: string | null;
  kpi_code: string;
  scope: string;
  limit: number;
}

/** $1-$7 of both queries (see kpi-query.sql.ts); $7 reads one row more than the page to know if more follow. */
function params(q: SeriesQuery, bucket: KpiBucket, from: Date, to: Date): Array<string | Date | number> {
  return [q.orgcode, q.kpi_code, bucket, q.scope, from, to, q.limit + 1];
}

/** The last bucket_start served, from a token this route minted for the same query. */
function afterOf(cursor: Cursor | undefined): Date | undefined {
  if (cursor === undefined) return undefined;
  const value = cursor[0];
  const at = typeof value === 'string' && cursor.length === 1 ? parseInstant(value) : undefined;
  if (at === undefined) throw AppError.badRequest('next_token is invalid: malformed', 'next_token');
  return at;
}
