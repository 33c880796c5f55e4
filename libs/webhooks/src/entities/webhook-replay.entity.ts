import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TenantOwned } from '@ipm/persistence';

export type ReplayStatus = 'queued' | 'running' | 'completed' | 'failed';

/**
 * A `/webhook/replay` request: re-deliver one webhook's stored events received in [after, before).
 * The `replay` job walks the window in batches; `cursor` (the last event seq handled) and the
 * counters are saved with each batch, so a job that dies resumes where it stopped.
 */
@Entity({ name: 'webhook_replays' })
@Index('ix_webhook_replays_org_webhook', ['orgcode', 'webhook_id', 'replay_id'])
@Index('ix_webhook_replays_open', ['updated_at'], { where: "status IN ('queued', 'running')" })
export class WebhookReplayEntity extends TenantOwned {
  @PrimaryColumn({ type: 'varchar', length: 40, primaryKeyConstraintName: 'pk_webhook_replays' })
  replay_id!: string;

  @Column({ type: 'varchar', length: 40 })
  webhook_id!: string;

  @Column({ type: 'timestamptz', nullable: true })
  window_after!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  window_before!: Date | null;

  /** Only events this webhook never received successfully. */
  @Column({ type: 'boolean', default: false })
  only_failed!: boolean;

  @Column({ type: 'varchar', length: 16 })
  status!: ReplayStatus;

  /** The last `events.seq` handled. */
  @Column({ type: 'bigint', nullable: true })
  cursor!: string | null;

  /** Deliveries the replay created. */
  @Column({ type: 'int', default: 0 })
  events_matched!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'varchar', length: 200 })
  created_by!: string;

  @Column({ type: 'timestamptz' })
  created_at!: Date;

  @Column({ type: 'timestamptz' })
  updated_at!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  finished_at!: Date | null;
}
