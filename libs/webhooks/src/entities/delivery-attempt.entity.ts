import { Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';
import { TenantOwned } from '@ipm/persistence';
import { DeliveryEntity, type DeliveryErrorKind } from './delivery.entity';

/** One POST of a delivery: when, how long, what came back (headers of note, the first 4 KiB of the body). */
@Entity({ name: 'delivery_attempts' })
@Index('ix_delivery_attempts_delivery', ['delivery_id', 'attempt_no'])
export class DeliveryAttemptEntity extends TenantOwned {
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'pk_delivery_attempts',
  })
  attempt_id!: string;

  @ForeignKey(() => DeliveryEntity, 'delivery_id', { name: 'fk_delivery_attempts_delivery', onDelete: 'CASCADE' })
  @Column({ type: 'varchar', length: 40 })
  delivery_id!: string;

  @Column({ type: 'varchar', length: 40 })
  webhook_id!: string;

  @Column({ type: 'int' })
  attempt_no!: number;

  /**
   * In `ix_delivery_attempts_webhook_started` (webhook_id, started_at) INCLUDE (duration_ms, orgcode), which
   * covers the stats latencies: written by hand in the migration, TypeORM cannot declare INCLUDE.
   */
  @Index('ix_delivery_attempts_webhook_started', { synchronize: false })
  @Column({ type: 'timestamptz' })
  started_at!: Date;

  @Column({ type: 'int' })
  duration_ms!: number;

  @Column({ type: 'int', nullable: true })
  status_code!: number | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  error_kind!: DeliveryErrorKind | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'jsonb' })
  response_headers!: Record<string, string>;

  @Column({ type: 'text' })
  response_excerpt!: string;

  /** What the attempt led to: success, retrying, failed or dead_letter. */
  @Column({ type: 'varchar', length: 16 })
  outcome!: string;
}
