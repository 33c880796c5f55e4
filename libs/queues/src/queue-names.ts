/** Every BullMQ queue, by purpose. */
export const QueueName = {
  /** First delivery attempts. */
  Delivery: 'delivery',
  /** Later attempts, so a failing endpoint's retries never block fresh deliveries. */
  Retry: 'retry',
  /** Window replays: one job per request, batched. */
  Replay: 'replay',
  /** Bulk import/export, chunked and resumable. */
  Bulk: 'bulk',
  /** Housekeeping on a schedule (expired idempotency keys, sweeps). */
  Maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];
export const ALL_QUEUES: readonly QueueName[] = Object.values(QueueName);
