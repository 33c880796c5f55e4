import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TenantRevisionedRecord } from '@ipm/persistence';
import type { KpiAlertStatus } from '@ipm/lifecycle';
import type { KpiBucket } from '../buckets';
import type { KpiComparator } from './kpi-alert.evaluation';

/**
 * One threshold watched on one KPI bucket: at most one per (tenant, kpi_code, scope, bucket,
 * bucket_start, comparator, threshold). The unique index is the `ON CONFLICT` target of
 * /kpi/alert, so the same alert asked twice (or twice at once) is one row whose revision moves.
 */
@Entity({ name: 'kpi_alerts' })
@Index('uq_kpi_alerts_key', ['orgcode', 'kpi_code', 'scope', 'bucket', 'bucket_start', 'comparator', 'threshold'], {
  unique: true,
})
export class KpiAlertEntity extends TenantRevisionedRecord {
  @PrimaryColumn({ type: 'varchar', length: 40, primaryKeyConstraintName: 'pk_kpi_alerts' })
  alert_id!: string;

  /** The application that raised it first (API keys bound to an app); null for tenant-wide callers. */
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

  @Column({ type: 'varchar', length: 3 })
  comparator!: KpiComparator;

  @Column({ type: 'double precision' })
  threshold!: number;

  /** The value of the last evaluation. */
  @Column({ type: 'double precision' })
  value!: number;

  /** Whether the last evaluation crossed the threshold. */
  @Column({ type: 'boolean' })
  breached!: boolean;

  /** KpiAlertMachine: firing, acknowledged or resolved. */
  @Column({ type: 'varchar', length: 16 })
  state!: KpiAlertStatus;

  /** When the last evaluation was made. */
  @Column({ type: 'timestamptz' })
  evaluated_at!: Date;

  /** When `ipm.kpi.alert` was last published for it; the cooldown runs from here. */
  @Column({ type: 'timestamptz', nullable: true })
  last_notified_at!: Date | null;
}
