import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { KpiDto } from '@ipm/kpis';
import type { KpiSnapshotEntity } from '@ipm/kpis';
import { toKpiDto } from '@ipm/kpis';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import { SqlFilter } from './sql-filter';
import type { ExportPage, ExportSource } from './targets';

/** The CSV columns of a snapshot: `/kpi/record`'s `kpi` fields, in order. */
export const KPI_EXPORT_COLUMNS = [
  'kpi_id',
  'orgcode',
  'app_id',
  'kpi_code',
  'scope',
  'bucket',
  'bucket_start',
  'bucket_end',
  'value',
  'created_at',
  'created_by',
  'updated_at',
  'updated_by',
  'revision',
] as const satisfies ReadonlyArray<keyof KpiDto>;

/** The job's snapshots: its tenant's (its app's when set), `bucket_start` in [from_utc, to_utc). */
function kpiFilter(job: BulkJobEntity): SqlFilter {
  const filter = new SqlFilter().eq('orgcode', job.orgcode);
  if (job.app_id) filter.eq('app_id', job.app_id);
  const { from_utc, to_utc } = job.options;
  if (from_utc) filter.cmp('bucket_start', '>=', new Date(from_utc));
  if (to_utc) filter.cmp('bucket_start', '<', new Date(to_utc));
  return filter;
}

/**
 * Snapshots in kpi_id order (ULIDs: creation order), keyset-paged on `ix_kpi_snapshots_org_id`;
 * the cursor is the last kpi_id. Docs are what `/kpi/record` returns (toKpiDto), each with its
 * current value and revision.
 */
@Injectable()
export class KpiExport implements ExportSource {
  readonly columns = KPI_EXPORT_COLUMNS;

  async count(db: EntityManager, job: BulkJobEntity): Promise<number> {
    const filter = kpiFilter(job);
    const [row] = await db.query<Array<{ n: string }>>(
      `SELECT count(*) AS n FROM kpi_snapshots WHERE ${filter.sql()}`,
      filter.params,
    );
    return Number(row.n);
  }

  async page(db: EntityManager, job: BulkJobEntity, after: string | null, limit: number): Promise<ExportPage> {
    const filter = kpiFilter(job);
    if (after !== null) filter.cmp('kpi_id', '>', after);
    const rows = await db.query<KpiSnapshotEntity[]>(
      `SELECT * FROM kpi_snapshots WHERE ${filter.sql()} ORDER BY kpi_id LIMIT ${filter.param(limit)}`,
      filter.params,
    );
    return { docs: rows.map(toKpiDto), cursor: rows.at(-1)?.kpi_id ?? null };
  }
}
