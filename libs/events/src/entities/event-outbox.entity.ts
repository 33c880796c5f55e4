import { Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';
import { EventEntity } from './event.entity';
import { TenantOwned } from '@ipm/persistence';

/**
 * One row per stored event, written in the same transaction: the fan-out relay (OutboxRelay) claims
 * rows (FOR UPDATE SKIP LOCKED, in `seq` order) and deletes them in the transaction that creates
 * their deliveries, so the table holds only the backlog. `processed_at` stays NULL (reserved for a
 * relay that keeps rows).
 */
@Entity({ name: 'event_outbox' })
@Index('ix_event_outbox_pending', ['seq'], { where: 'processed_at IS NULL' })
export class EventOutboxEntity extends TenantOwned {
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'pk_event_outbox',
  })
  seq!: string;

  @ForeignKey(() => EventEntity, 'seq', { name: 'fk_event_outbox_event', onDelete: 'CASCADE' })
  @Index('ix_event_outbox_event')
  @Column({ type: 'bigint' })
  event_seq!: string;

  @Column({ type: 'timestamptz' })
  created_at!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  processed_at!: Date | null;
}
