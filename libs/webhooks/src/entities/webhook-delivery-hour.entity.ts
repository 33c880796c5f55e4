import { Column, Entity, PrimaryColumn } from 'typeorm';
import { TenantOwned } from '@ipm/persistence';

/**
 * One webhook's deliveries of one UTC hour that are finished and were "settled" (finished within
 * SETTLE_MS of their creation), by final status, and the exact histogram of the durations of its
 * attempts started in that hour: what /webhook/stats reads instead of counting those deliveries and
 * sorting those durations again. Written once, lazily by a stats read, only when the hour can no
 * longer change (see deliveries/stats-hours.ts); every other delivery of the hour is counted live.
 * Deleted when deliveries it counts are deleted (purge, retention) and refilled by the next read.
 */
@Entity({ name: 'webhook_delivery_hours' })
export class WebhookDeliveryHourEntity extends TenantOwned {
  @PrimaryColumn({ type: 'varchar', length: 40, primaryKeyConstraintName: 'pk_webhook_delivery_hours' })
  webhook_id!: string;

  /** The start of the UTC hour the deliveries were created in. */
  @PrimaryColumn({ type: 'timestamptz', primaryKeyConstraintName: 'pk_webhook_delivery_hours' })
  hour!: Date;

  @Column({ type: 'int' })
  success!: number;

  @Column({ type: 'int' })
  failed!: number;

  @Column({ type: 'int' })
  dead_letter!: number;

  /** Attempts started in the hour: the sum of duration_counts. */
  @Column({ type: 'int' })
  attempts!: number;

  /** The distinct attempt durations (ms) of the hour, ascending. */
  @Column({ type: 'int', array: true })
  durations!: number[];

  /** How many attempts lasted durations[i] ms (same length as durations). */
  @Column({ type: 'int', array: true })
  duration_counts!: number[];

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created_at!: Date;
}
