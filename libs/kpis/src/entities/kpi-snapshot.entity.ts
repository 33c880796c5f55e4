import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TenantRevisionedRecord } from '@ipm/persistence';
import type { KpiBucket } from '../buckets';

/**
 * One KPI value for one bucket of UTC time: at most one per (tenant, kpi_code, scope, bucket,
 * bucket_start). The unique index lists its columns in series order (kpi_code, bucket, scope, then
 * time), so the same index enforces the key, is the `ON CONFLICT` target of /kpi/record, and serves
 * a series query (`orgcode, kpi_code, bucket, scope, bucket_start` range) with no second index to
 * maintain on every write. `ix_kpi_snapshots_org_id` pages a tenant's snapshots in id order (export).
 */
@Entity({ name: 'kpi_snapshots' })
@Index('uq_kpi_snapshots_key', ['orgcode', 'kpi_code', 'bucket', 'scope', 'bucket_start'], { unique: true })
@Index('ix_kpi_snapshots_org_id', ['orgcode', 'kpi_id'])
export class KpiSnapshotEntity extends TenantRevisionedRecord {
  @PrimaryColumn({ type: 'varchar', length: 40, primaryKeyConstraintName: 'pk_kpi_snapshots' })
  kpi_id!: string;

  /** The application that recorded it (API keys bound to an app); null for tenant-wide callers. */
  @Column({ type: 'varchar', length: 128, nullable: true })
  app_id!: string | null;

  @Column({ type: 'varchar', length: 100 })
  kpi_code!: string;

  @Column({ type: 'varchar', length: 128, default: 'org' })
  scope!: string;

  @Column({ type: 'varchar', length: 8 })
  bucket!: KpiBucket;

  @Column({ type: 'timestamptz' })
  bucket_start!: Date;

  @Column({ type: 'timestamptz' })
  bucket_end!: Date;

  @Column({ type: 'double precision' })
  value!: number;
}
