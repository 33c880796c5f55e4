import { Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { TenantOwned } from '@ipm/persistence';

export type EventSource = 'api' | 'platform';

/**
 * One stored event. `(tx_id, seq)` is the CDC feed's sort key (see CdcService: the feed serves only
 * rows whose transaction is older than every open one, so it is gap-free); `(orgcode, event_id)` is
 * unique, so a repeated client id is never stored twice. One index per CDC filter, each ending in
 * `(tx_id, seq)` so that a filtered page is an index range scan in feed order; the partial ones cost
 * nothing for the rows that leave their column empty. `received_at` windows use their own index.
 */
@Entity({ name: 'events' })
@Unique('uq_events_org_event_id', ['orgcode', 'event_id'])
@Index('ix_events_org_tx_seq', ['orgcode', 'tx_id', 'seq'])
@Index('ix_events_org_type_tx_seq', ['orgcode', 'event_type', 'tx_id', 'seq'])
@Index('ix_events_org_service_tx_seq', ['orgcode', 'service', 'tx_id', 'seq'])
@Index('ix_events_org_guid_tx_seq', ['orgcode', 'logical_guid', 'tx_id', 'seq'], { where: 'logical_guid IS NOT NULL' })
@Index('ix_events_org_channel_tx_seq', ['orgcode', 'channel_code', 'tx_id', 'seq'], {
  where: 'channel_code IS NOT NULL',
})
@Index('ix_events_org_app_tx_seq', ['orgcode', 'app_id', 'tx_id', 'seq'], { where: 'app_id IS NOT NULL' })
@Index('ix_events_org_received', ['orgcode', 'received_at'])
export class EventEntity extends TenantOwned {
  /** bigint: the driver hands it over as a string, which is how the API shows it too. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'pk_events',
  })
  seq!: string;

  /**
   * The 64-bit id of the inserting transaction (epoch and xid, as `pg_current_xact_id()` gives it),
   * from the column default: `txid_current()` is that same number already typed bigint. (The
   * spelling `pg_current_xact_id()::text::bigint` would need casts, which TypeORM strips from a
   * default before comparing it, so the schema diff would never be empty.) Every row of one
   * transaction shares it. Ids are drawn at a transaction's first write, not at its commit: a higher
   * one can commit first, which is why the feed waits for the commit horizon.
   */
  @Column({ type: 'bigint', default: () => 'txid_current()' })
  tx_id!: string;

  @Column({ type: 'varchar', length: 100 })
  event_id!: string;

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
