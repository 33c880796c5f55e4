import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { BulkJobStatus } from '@ipm/lifecycle';
import { TenantRevisionedRecord } from '@ipm/persistence';

export type BulkJobType = 'import' | 'export';
export type BulkImportTarget = 'events' | 'webhooks' | 'kpis';
export type BulkExportTarget = 'events' | 'deliveries' | 'webhooks' | 'kpis' | 'audit';
export type BulkFormat = 'ndjson' | 'csv';

/** Per-job options: `dry_run` for imports; for exports the filters (time window, service, event type…). */
export interface BulkJobOptions {
  dry_run?: boolean;
  from_utc?: string;
  to_utc?: string;
  service?: string;
  event_type?: string;
  webhook_id?: string;
  status?: string;
}

/**
 * A bulk import or export. Its files live in BulkStorage (upload, export parts, report) under the
 * job id. The checkpoint (`last_processed_line` for imports, `cursor` for exports) and the counters
 * are written in the same transaction as each chunk, so a job resumes exactly where it stopped.
 */
@Entity({ name: 'bulk_jobs' })
@Index('ix_bulk_jobs_org_id', ['orgcode', 'job_id'])
@Index('ix_bulk_jobs_org_status', ['orgcode', 'status', 'job_id'])
@Index('ix_bulk_jobs_expiry', ['expires_at'], { where: "status <> 'expired'" })
export class BulkJobEntity extends TenantRevisionedRecord {
  @PrimaryColumn({ type: 'varchar', length: 40, primaryKeyConstraintName: 'pk_bulk_jobs' })
  job_id!: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  app_id!: string | null;

  @Column({ type: 'varchar', length: 8 })
  job_type!: BulkJobType;

  @Column({ type: 'varchar', length: 16 })
  target!: BulkImportTarget | BulkExportTarget;

  @Column({ type: 'varchar', length: 8 })
  format!: BulkFormat;

  @Column({ type: 'jsonb' })
  options!: BulkJobOptions;

  @Column({ type: 'varchar', length: 24 })
  status!: BulkJobStatus;

  /** Lines in the uploaded file (import, once known) or rows to export (when counted). */
  @Column({ type: 'int', nullable: true })
  total_lines!: number | null;

  @Column({ type: 'int', default: 0 })
  processed!: number;

  @Column({ type: 'int', default: 0 })
  succeeded!: number;

  @Column({ type: 'int', default: 0 })
  failed!: number;

  /** Import checkpoint: the last line whose chunk committed (0 = none). */
  @Column({ type: 'int', default: 0 })
  last_processed_line!: number;

  /** Export checkpoint: the keyset cursor after the last exported row. */
  @Column({ type: 'text', nullable: true })
  cursor!: string | null;

  /** Bytes received by the upload. */
  @Column({ type: 'bigint', default: 0 })
  upload_bytes!: string;

  /** The id of the one upload token issued; set to null once it has been used (single use). */
  @Column({ type: 'varchar', length: 40, nullable: true })
  upload_token_id!: string | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  started_at!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finished_at!: Date | null;

  /** When its files are deleted and it becomes `expired`. */
  @Column({ type: 'timestamptz' })
  expires_at!: Date;
}
