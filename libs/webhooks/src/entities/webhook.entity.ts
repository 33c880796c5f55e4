import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { WebhookStatus } from '@ipm/lifecycle';
import { TenantRevisionedRecord } from '@ipm/persistence';

/** One subscription filter: `service`, optionally narrowed to one `action` or an `action_prefix`. */
export interface EventFilter {
  service: string;
  action?: string;
  action_prefix?: string;
}

export type RetryBackoff = 'exponential';

export interface RetryPolicy {
  max_attempts: number;
  backoff: RetryBackoff;
  timeout_ms: number;
  /** Consecutive failed attempts that pause the webhook; absent = WEBHOOK_AUTO_PAUSE_FAILURES. */
  auto_pause_after?: number;
}

export const SIGNING_ALGORITHM = 'hmac-sha256';

/**
 * A webhook subscription. Lists page by (orgcode, webhook_id) or (orgcode, name, webhook_id)
 * among live rows (partial indexes); deleted rows stay for the record. `name` is never NULL
 * ('' when unnamed) so that it can be a keyset column.
 */
@Entity({ name: 'webhooks' })
@Index('ix_webhooks_org_id', ['orgcode', 'webhook_id'], { where: 'is_deleted = false' })
@Index('ix_webhooks_org_name', ['orgcode', 'name', 'webhook_id'], { where: 'is_deleted = false' })
@Index('ix_webhooks_org_status', ['orgcode', 'status', 'webhook_id'], { where: 'is_deleted = false' })
@Index('ix_webhooks_org_app', ['orgcode', 'app_id', 'webhook_id'], {
  where: 'is_deleted = false AND app_id IS NOT NULL',
})
export class WebhookEntity extends TenantRevisionedRecord {
  @PrimaryColumn({ type: 'varchar', length: 40, primaryKeyConstraintName: 'pk_webhooks' })
  webhook_id!: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  app_id!: string | null;

  @Column({ type: 'varchar', length: 200, default: '' })
  name!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ type: 'varchar', length: 2048 })
  endpoint_url!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: WebhookStatus;

  /** Empty = every event. */
  @Column({ type: 'jsonb' })
  event_filters!: EventFilter[];

  /** Static, non-secret headers sent with every delivery. */
  @Column({ type: 'jsonb' })
  headers!: Record<string, string>;

  @Column({ type: 'jsonb' })
  retry_policy!: RetryPolicy;

  @Column({ type: 'varchar', length: 32 })
  signing_algorithm!: typeof SIGNING_ALGORITHM;

  /** SecretBox-sealed `whsec_…`, context = webhook_id. */
  @Column({ type: 'text' })
  secret_sealed!: string;

  /** The SecretBox key that sealed the current secret (for key rotation). */
  @Column({ type: 'varchar', length: 16 })
  secret_key_id!: string;

  @Column({ type: 'varchar', length: 4 })
  secret_last4!: string;

  @Column({ type: 'char', length: 16 })
  secret_fingerprint!: string;

  /** The secret before the last rotation, still signing until previous_secret_expires_at. */
  @Column({ type: 'text', nullable: true })
  previous_secret_sealed!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  previous_secret_expires_at!: Date | null;

  /** GIN-indexed (`ix_webhooks_tags`, written by hand in the migration: TypeORM cannot declare GIN). */
  @Index('ix_webhooks_tags', { synchronize: false })
  @Column({ type: 'text', array: true, default: () => "'{}'" })
  tags!: string[];

  @Column({ type: 'int', default: 0 })
  consecutive_failures!: number;

  @Column({ type: 'timestamptz', nullable: true })
  paused_at!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  last_delivery_at!: Date | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  last_delivery_status!: string | null;

  /** When the endpoint last echoed a signed `/webhook/verify` challenge. */
  @Column({ type: 'timestamptz', nullable: true })
  verified_at!: Date | null;

  /** The outcome of the last verification: `verified` or why it failed. */
  @Column({ type: 'varchar', length: 500, nullable: true })
  verification_status!: string | null;

  @Column({ type: 'boolean', default: false })
  is_deleted!: boolean;

  @Column({ type: 'timestamptz', nullable: true })
  deleted_at!: Date | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  deleted_by!: string | null;
}
