import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AuditLogEntity } from '@ipm/audit';
import { toAuditRecord } from '@ipm/audit';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import { SqlFilter } from './sql-filter';
import type { ExportPage, ExportSource } from './targets';

/** The CSV columns of an audit record: `/audit/list`'s item fields, in order. */
export const AUDIT_EXPORT_COLUMNS = [
  'audit_id',
  'orgcode',
  'actor_type',
  'actor_id',
  'app_id',
  'action',
  'target_type',
  'target_id',
  'reason',
  'source_refs',
  'request_context',
  'metadata',
  'created_at',
] as const;

function auditFilter(job: BulkJobEntity): SqlFilter {
  const filter = new SqlFilter().eq('orgcode', job.orgcode);
  if (job.app_id) filter.eq('app_id', job.app_id);
  const { from_utc, to_utc } = job.options;
  if (from_utc) filter.cmp('created_at', '>=', new Date(from_utc));
  if (to_utc) filter.cmp('created_at', '<', new Date(to_utc));
  return filter;
}

/** The audit log in id order (ULIDs: time order), paged on `ix_audit_org`; docs as `/audit/list` shows them. */
@Injectable()
export class AuditExport implements ExportSource {
  readonly columns = AUDIT_EXPORT_COLUMNS;

  async count(db: EntityManager, job: BulkJobEntity): Promise<number> {
    const filter = auditFilter(job);
    const [row] = await db.query<Array<{ n: string }>>(
      `SELECT count(*) AS n FROM audit_log WHERE ${filter.sql()}`,
      filter.params,
    );
    return Number(row.n);
  }

  async page(db: EntityManager, job: BulkJobEntity, after: string | null, limit: number): Promise<ExportPage> {
    const filter = auditFilter(job);
    if (after !== null) filter.cmp('audit_id', '>', after);
    const rows = await db.query<AuditLogEntity[]>(
      `SELECT * FROM audit_log WHERE ${filter.sql()} ORDER BY audit_id LIMIT ${filter.param(limit)}`,
      filter.params,
    );
    return { docs: rows.map(toAuditRecord), cursor: rows.at(-1)?.audit_id ?? null };
  }
}
