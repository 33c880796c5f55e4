import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BulkJob, DeliveryJob, JobProducer } from '@ipm/queues';
import type { DeliveryOrigin } from '../entities/delivery.entity';

/** A delivery to create: one event (stored, or a test payload) for one webhook. */
export interface NewDelivery {
  delivery_id: string;
  orgcode: string;
  app_id: string | null;
  webhook_id: string;
  /** `events.seq`; null for a test delivery. */
  event_seq: string | null;
  event_id: string;
  event_type: string;
  /** The `data` of a delivery of no stored event (test); null otherwise. */
  payload?: object | null;
  origin: DeliveryOrigin;
  retry_of?: string | null;
  replay_id?: string | null;
  /** The `delivery.batch` job carrying it ({@link batchJobId}); absent: its own `delivery.send` job. */
  job_id?: string | null;
}

/**
 * Many deliveries in ONE statement whose one parameter is a jsonb array (no parameter limit, one
 * plan), all `pending` and due now.
 */
export const INSERT_DELIVERIES_SQL = `
INSERT INTO deliveries (delivery_id, orgcode, app_id, webhook_id, event_seq, event_id, event_type, payload,
                        status, origin, retry_of, replay_id, job_id, attempt_count, next_attempt_at, created_at,
                        updated_at)
SELECT r->>0, r->>1, r->>2, r->>3, (r->>4)::bigint, r->>5, r->>6, r->7, 'pending', r->>8, r->>9, r->>10, r->>11, 0,
       now(), now(), now()
FROM jsonb_array_elements($1::jsonb) AS t(r)`;

/**
 * Delivery jobs retry a few times on their own when the engine itself fails (PostgreSQL briefly
 * unreachable); the receiver's failures are the delivery's retry policy, not these.
 */
export const DELIVERY_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  // The outcome is in PostgreSQL; a completed delivery job is only Redis memory and cleanup work.
  removeOnComplete: true,
} as const;

/**
 * The job that makes a delivery's first attempt (its id is the delivery's, so it is never enqueued twice);
 * `reclaim`: it may take over the row from an abandoned attempt (see DeliveryJob.reclaim).
 */
export function sendJob(delivery: { delivery_id: string; webhook_id: string }, reclaim = false): BulkJob {
  return {
    name: 'delivery.send',
    payload: { delivery_id: delivery.delivery_id, webhook_id: delivery.webhook_id, ...(reclaim ? { reclaim } : {}) },
    opts: { ...DELIVERY_JOB_OPTIONS, jobId: delivery.delivery_id },
  };
}

/**
 * Deliveries per `delivery.batch` job. Four cut the Redis work per delivery by two thirds; larger
 * batches let one slow delivery hold up more job completions and pushed the per-endpoint cap into
 * deferrals (16 measured slower than single jobs).
 */
export const DELIVERY_BATCH_SIZE = 4;

/** The id of the batch job whose first delivery is `firstDeliveryId`. */
export function batchJobId(firstDeliveryId: string): string {
  return `b.${firstDeliveryId}`;
}

/**
 * Groups deliveries into batch jobs of {@link DELIVERY_BATCH_SIZE}, in order, and sets each one's
 * `job_id` (call before {@link DeliveryScheduler.insert}, so that the rows name their job).
 */
export function assignBatches(rows: NewDelivery[]): void {
  for (let i = 0; i < rows.length; i += DELIVERY_BATCH_SIZE) {
    const id = batchJobId(rows[i].delivery_id);
    for (const row of rows.slice(i, i + DELIVERY_BATCH_SIZE)) row.job_id = id;
  }
}

/**
 * Creates deliveries and hands them to the `delivery` queue. The rows are written in the caller's
 * transaction; {@link enqueue} runs after it commits. A crash between the two leaves due rows that
 * no queue holds, which the sweeper re-enqueues: PostgreSQL, not Redis, is what must not lose them.
 */
@Injectable()
export class DeliveryScheduler {
  constructor(private readonly jobs: JobProducer) {}

  async insert(em: EntityManager, rows: readonly NewDelivery[]): Promise<void> {
    if (rows.length === 0) return;
    const json = `[${rows
      .map((r) =>
        JSON.stringify([
          r.delivery_id,
          r.orgcode,
          r.app_id,
          r.webhook_id,
          r.event_seq,
          r.event_id,
          r.event_type,
          r.payload ?? null,
          r.origin,
          r.retry_of ?? null,
          r.replay_id ?? null,
          r.job_id ?? null,
        ]),
      )
      .join(',')}]`;
    await em.query(INSERT_DELIVERIES_SQL, [json]);
  }

  /**
   * Enqueues the first attempt of each delivery, in one round trip: one `delivery.batch` job per
   * `job_id` (in order), one `delivery.send` job for each delivery without one.
   */
  async enqueue(
    rows: ReadonlyArray<{ delivery_id: string; webhook_id: string; job_id?: string | null }>,
  ): Promise<void> {
    if (rows.length === 0) return;
    const jobs: BulkJob[] = [];
    const batches = new Map<string, DeliveryJob[]>();
    for (const row of rows) {
      if (!row.job_id) {
        jobs.push(sendJob(row));
        continue;
      }
      let batch = batches.get(row.job_id);
      if (!batch) {
        batch = [];
        batches.set(row.job_id, batch);
        jobs.push({
          name: 'delivery.batch',
          payload: { deliveries: batch },
          opts: { ...DELIVERY_JOB_OPTIONS, jobId: row.job_id },
        });
      }
      batch.push({ delivery_id: row.delivery_id, webhook_id: row.webhook_id });
    }
    await this.jobs.addBulk(jobs);
  }
}
