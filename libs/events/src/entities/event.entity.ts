import { Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

export type EventSource = 'api' | 'platform';

/**
 * One stored event. `seq` is the arrival order (the CDC feed's sort key); `(orgcode, event_id)`
 * is unique, so a repeated client id is never stored twice. The partial indexes serve the CDC
 * filters and cost nothing for the rows that leave those columns empty.
 */
@Entity({ name: 'events' })
@Unique('uq_events_org_event_id', ['orgcode', 'event_id'])
@Index('ix_events_org_seq', ['orgcode', 'seq'])
@Index('ix_events_org_type_seq', ['orgcode', 'event_type', 'seq'])
@Index('ix_events_org_service_seq', ['orgcode', 'service', 'seq'])
@Index('ix_events_org_guid_seq', ['orgcode', 'logical_guid', 'seq'], { where: 'logical_guid IS NOT NULL' })
@Index('ix_events_org_channel_seq', ['orgcode', 'channel_code', 'seq'], { where: 'channel_code IS NOT NULL' })
@Index('ix_events_org_app_seq', ['orgcode', 'app_id', 'seq'], { where: 'app_id IS NOT NULL' })
@Index('ix_events_org_received', ['orgcode', 'received_at'])
export class EventEntity {
  /** bigint: the driver hands it over as a string, which is how the API shows it too. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'pk_events',
  })
  seq!: string;

  @Column({ type: 'varchar', length: 100 })
  event_id!: string;

  @Column({ type: 'varchar', length: 64 })
  orgcode!: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  app_id!: string | null;

  @Column({ type: 'varchar', length: 200 })
  event_type!: string;

  @Column({ type: 'varchar', length: 64 })
  service!: string;

  @Column({ type: 'varchar', length: 135 })
  action!: string;

  @Column({ type: 'jsonb' })
  payload!: object;

  @Column({ type: 'varchar', length: 200, nullable: true })
  logical_guid!: string | null;

  @Column({ type: 'varchar', length: 100, nullable: true })
  channel_code!: string | null;

  @Column({ type: 'varchar', length: 16 })
  source!: EventSource;

  /** Who published it: a JWT `sub` or an API key id. */
  @Column({ type: 'varchar', length: 200 })
  actor!: string;

  @Column({ type: 'timestamptz' })
  occurred_at!: Date;

  @Column({ type: 'timestamptz' })
  received_at!: Date;
}
