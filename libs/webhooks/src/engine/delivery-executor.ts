import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DelayedError } from 'bullmq';
import { AppConfig, withLogFields } from '@ipm/core';
import { JobHandler, JobProducer, QueueName, servesQueue } from '@ipm/queues';
import type { BulkJob, DeliveryBatchJob, DeliveryJob, JobContext } from '@ipm/queues';
import { DeliveryAttempts, DeliveryJobResult, RetryDue } from './delivery-attempt';
import { DELIVERY_JOB_OPTIONS, sendJob } from './delivery-scheduler';
import { EndpointSlots } from './endpoint-slots';

/** The job id of a delivery's `attempt`-th attempt when it is a retry (the first uses the delivery id). */
export function retryJobId(deliveryId: string, attempt: number): string {
  return `${deliveryId}.a${attempt}`;
}

/**
 * The delivery jobs, as BullMQ runs them: `delivery.send` (first attempts, `delivery` queue),
 * `delivery.batch` (a fan-out's first attempts together) and `delivery.retry` (later ones, `retry`
 * queue, so a failing endpoint's retries never hold up fresh deliveries). Per job: a slot of its
 * endpoint's cap (EndpointSlots; over it, the job goes back to the queue delayed while the delivery
 * is parked), the attempt (DeliveryAttempts), and a retry is enqueued only once its row says `retrying`.
 */
@Injectable()
export class DeliveryExecutor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DeliveryExecutor.name);
  private readonly slots: EndpointSlots;

  constructor(
    private readonly attempts: DeliveryAttempts,
    private readonly jobs: JobProducer,
    private readonly config: AppConfig,
  ) {
    this.slots = new EndpointSlots(config.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT, {
      attempt: (parked) => this.attempt(parked.delivery_id, false),
      dropJob: (job) => this.jobs.remove(job.name, job.id),
    });
  }

  @JobHandler('delivery.send')
  send(payload: DeliveryJob, context: JobContext<'delivery.send'>): Promise<DeliveryJobResult> {
    return this.run(payload, context);
  }

  /**
   * The first attempts of a fan-out's deliveries, made concurrently. One over its endpoint's cap
   * leaves the batch for a delayed `delivery.send` job of its own (id = delivery id, which the sweeper
   * also looks for). If any attempt could not be recorded, the job fails and is retried: the
   * deliveries that finished are skipped then.
   */
  @JobHandler('delivery.batch')
  async batch(
    payload: DeliveryBatchJob,
    context: JobContext<'delivery.batch'>,
  ): Promise<{ deliveries: DeliveryJobResult[] }> {
    const reclaim = mayReclaim(context.job);
    const settled = await Promise.allSettled(
      payload.deliveries.map((d) =>
        withLogFields({ delivery_id: d.delivery_id, webhook_id: d.webhook_id }, () => this.runInBatch(d, reclaim)),
      ),
    );
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    return {
      deliveries: settled.map((r) => (r as PromiseFulfilledResult<DeliveryJobResult>).value),
    };
  }

  @JobHandler('delivery.retry')
  retry(payload: DeliveryJob, context: JobContext<'delivery.retry'>): Promise<DeliveryJobResult> {
    return this.run(payload, context);
  }

  /**
   * A worker that starts takes over the parked deliveries of every worker: their safety-net jobs (delayed
   * by up to PARK_SAFETY_DELAY_MS.max) are made due now. After a crash, the restarted worker then sends what
   * the dead one had parked at once, instead of a minute later (measured by `npm run chaos`, worker SIGKILL:
   * recovery 61 s before). A live worker's parked delivery that another worker takes is skipped by its own
   * run (the claim of an `in_flight` row fails); the only other delayed jobs of the `delivery` queue are
   * engine-failure backoffs, which merely run sooner. Retries (queue `retry`) keep their schedule.
   */
  async onApplicationBootstrap(): Promise<void> {
    // Only a worker that serves `delivery` takes them over (WORKER_QUEUES).
    if (!servesQueue(this.config, QueueName.Delivery)) return;
    await this.jobs.promoteDelayed(QueueName.Delivery).catch((err: unknown) => {
      this.logger.warn(`could not promote parked deliveries: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  /**
   * Stops running parked deliveries, hands them to any worker (their delayed jobs made due now),
   * and waits for the parked attempts under way.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const { parked, settled } = this.slots.close();
    await Promise.all(parked.map((p) => this.jobs.promote(p.job.name, p.job.id).catch(() => false)));
    await settled;
  }

  /** Deliveries in flight to one webhook in this process. */
  inFlightTo(webhookId: string): number {
    return this.slots.inFlightTo(webhookId);
  }

  /** Deliveries parked for one webhook in this process. */
  parkedFor(webhookId: string): number {
    return this.slots.parkedFor(webhookId);
  }

  private async run(
    payload: DeliveryJob,
    context: JobContext<'delivery.send'> | JobContext<'delivery.retry'>,
  ): Promise<DeliveryJobResult> {
    const jobId = context.job.id;
    const slot = this.slots.slot(payload.webhook_id);
    if (slot === 'park' && context.token && jobId !== undefined) {
      const delay = this.slots.parkOverCap(payload, { name: context.job.name, id: jobId });
      await context.job.moveToDelayed(Date.now() + delay, context.token);
      this.slots.pump(payload.webhook_id);
      throw new DelayedError();
    }
    const held = slot === 'park' ? this.slots.waitInLine(payload.webhook_id) : slot;
    const reclaim = payload.reclaim === true || mayReclaim(context.job);
    return this.slots.inSlot(payload.webhook_id, held, () => this.attempt(payload.delivery_id, reclaim));
  }

  private async runInBatch(delivery: DeliveryJob, reclaim: boolean): Promise<DeliveryJobResult> {
    const slot = this.slots.slot(delivery.webhook_id);
    if (slot === 'park') {
      const job = sendJob(delivery);
      const delay = this.slots.parkOverCap(delivery, { name: 'delivery.send', id: delivery.delivery_id });
      await this.jobs.addBulk([{ ...job, opts: { ...job.opts, delay } }]);
      this.slots.pump(delivery.webhook_id);
      return { delivery_id: delivery.delivery_id, status: 'deferred' };
    }
    return this.slots.inSlot(delivery.webhook_id, slot, () => this.attempt(delivery.delivery_id, reclaim));
  }

  /** The attempt, then its retry's job (still in the attempt's slot). */
  private async attempt(deliveryId: string, reclaim: boolean): Promise<DeliveryJobResult> {
    const { result, retry } = await this.attempts.attempt(deliveryId, reclaim);
    if (retry) await this.enqueueRetry(retry);
    return result;
  }

  /**
   * Enqueues the next attempt. If Redis is unavailable now, the row still says `retrying` with its
   * due time, and the sweeper enqueues it once it is due: nothing is lost, so the job does not fail.
   */
  private async enqueueRetry(retry: RetryDue): Promise<void> {
    const job: BulkJob = {
      name: 'delivery.retry',
      payload: { delivery_id: retry.delivery_id, webhook_id: retry.webhook_id },
      opts: { ...DELIVERY_JOB_OPTIONS, jobId: retryJobId(retry.delivery_id, retry.attempt), delay: retry.delayMs },
    };
    try {
      await this.jobs.addBulk([job]);
    } catch (err) {
      this.logger.warn(
        `delivery ${retry.delivery_id}: could not enqueue attempt ${retry.attempt} (the sweeper will): ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
    }
  }
}

/**
 * Whether a job's deliveries may be claimed again when `in_flight`: BullMQ runs it again after a stall
 * (its worker died or froze past the lock) or after it failed (its attempts all settled first). A first
 * run may not: an `in_flight` row then belongs to another live attempt.
 */
export function mayReclaim(job: { attemptsMade: number; stalledCounter: number }): boolean {
  return job.attemptsMade > 0 || job.stalledCounter > 0;
}
