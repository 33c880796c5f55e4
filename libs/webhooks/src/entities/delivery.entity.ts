import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { DeliveryStatus } from '@ipm/lifecycle';
import { TenantOwned } from '@ipm/persistence';

/** Why a delivery exists: the fan-out of a stored event, a manual retry, a replay, or `/webhook/test`. */
export type DeliveryOrigin = 'event' | 'retry' | 'replay' | 'test';

/** The kinds of error an attempt can end with (`null` on a 2xx). */
export type DeliveryErrorKind = 'timeout' | 'dns' | 'refused' | 'tls' | 'ssrf_blocked' | 'http_status' | 'network';

/**
 * One event sent to one webhook, over one or more attempts. PostgreSQL is the truth: a queue job
 * only carries the id, and the sweeper re-enqueues any row that is due and that no queue holds
 * (`ix_deliveries_due`). The id is the `webhook-id` header, stable across the retries of the row.
 * Lists page by delivery_id (ULIDs sort by creation) within a tenant, optionally one webhook.
 */
@Entity({ name: 'deliveries' })
@Index('ix_deliveries_org_id', ['orgcode', 'delivery_id'])
@Index('ix_deliveries_org_webhook_id', ['orgcode', 'webhook_id', 'delivery_id'])
@Index('ix_deliveries_webhook_created', ['webhook_id', 'created_at'])
@Index('ix_deliveries_due', ['next_attempt_at'], { where: "status IN ('pending', 'retrying', 'in_flight')" })
@Index('ix_deliveries_finished', ['finished_at'], { where: 'finished_at IS NOT NULL' })
@Index('ix_deliveries_replay', ['replay_id'], { where: 'replay_id IS NOT NULL' })
@Index('ix_deliveries_webhook_event', ['webhook_id', 'event_seq'], { where: 'event_seq IS NOT NULL' })
export class DeliveryEntity extends TenantOwned {
  @PrimaryColumn({ type: 'varchar', length: 40, primaryKeyConstraintName: 'pk_deliveries' })
  delivery_id!: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  app_id!: string | null;

  @Column({ type: 'varchar', length: 40 })
  webhook_id!: string;

  /** The stored event sent (`events.seq`); null for a test delivery, which carries its own payload. */
  @Column({ type: 'bigint', nullable: true })
  event_seq!: string | null;

  @Column({ type: 'varchar', length: 100 })
  event_id!: string;

  @Column({ type: 'varchar', length: 200 })
  event_type!: string;

  /** Only for deliveries of no stored event (`/webhook/test`): the `data` sent. */
  @Column({ type: 'jsonb', nullable: true })
  payload!: object | null;

  @Column({ type: 'varchar', length: 16 })
  status!: DeliveryStatus;

  @Column({ type: 'varchar', length: 16 })
  origin!: DeliveryOrigin;

  /** For a manual retry: the failed or dead-lettered delivery it repeats. */
  @Column({ type: 'varchar', length: 40, nullable: true })
  retry_of!: string | null;

  @Column({ type: 'varchar', length: 40, nullable: true })
  replay_id!: string | null;

  /**
   * The `delivery.batch` job that carries the first attempt, when the fan-out grouped it with others
   * (null: its own `delivery.send` job, whose id is the delivery id). The sweeper looks for both.
   */
  @Column({ type: 'varchar', length: 64, nullable: true })
  job_id!: string | null;

  @Column({ type: 'int', default: 0 })
  attempt_count!: number;

  /** When the next attempt is due (pending, retrying) or when the current one started (in_flight). */
  @Column({ type: 'timestamptz', nullable: true })
  next_attempt_at!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  last_attempt_at!: Date | null;

  @Column({ type: 'int', nullable: true })
  last_status_code!: number | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  last_error_kind!: DeliveryErrorKind | null;

  @Column({ type: 'text', nullable: true })
  last_error!: string | null;

  /** Duration of the last attempt, in ms. */
  @Column({ type: 'int', nullable: true })
  last_duration_ms!: number | null;

  /**
   * Also in `ix_deliveries_webhook_unsettled` (webhook_id, created_at) INCLUDE (status, orgcode), over the
   * deliveries /webhook/stats counts live in rolled-up hours (see deliveries/stats-hours.ts): written by
   * hand in the migration, TypeORM cannot declare INCLUDE.
   */
  @Index('ix_deliveries_webhook_unsettled', { synchronize: false })
  @Column({ type: 'timestamptz' })
  created_at!: Date;

  @Column({ type: 'timestamptz' })
  updated_at!: Date;

  /** When it reached success, failed or dead_letter. */
  @Column({ type: 'timestamptz', nullable: true })
  finished_at!: Date | null;
}
