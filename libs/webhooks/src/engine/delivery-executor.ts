import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { DelayedError } from 'bullmq';
import { AppConfig, SecretBox, withLogFields } from '@ipm/core';
import { EngineMetrics, JobHandler, JobProducer, QueueName, servesQueue } from '@ipm/queues';
import type { BulkJob, DeliveryBatchJob, DeliveryJob, JobContext } from '@ipm/queues';
import { AttemptResult, DeliveryClient } from '../delivery-client';
import { signDelivery } from '../signing';
import { decideAttempt } from './attempt-decision';
import { DELIVERY_JOB_OPTIONS, sendJob } from './delivery-scheduler';
import { AttemptRecord, ClaimedDelivery, DeliveryStore } from './delivery-store';
import { EndpointPark, ParkedDelivery, parkSafetyDelay } from './endpoint-park';
import { MicroBatcher } from './micro-batcher';

/** The User-Agent of every delivery. */
export const DELIVERY_USER_AGENT = 'IPM-Webhooks/1.0';

/** Deliveries parked per webhook, and in all, per process. */
const PARK_LIMITS = { perWebhook: 10_000, total: 200_000 } as const;

/** The wait of a delivery over its cap that a stopping worker does not park. */
const CLOSING_DELAY_MS = 1_000;

/** What a delivery job did, as the job's return value (kept on completed jobs for a while, for inspection). */
export interface DeliveryJobResult {
  delivery_id: string;
  /** `skipped`: already finished (a duplicate job); `deferred`: over its endpoint's cap, parked (see EndpointPark). */
  status: AttemptRecord['status'] | 'skipped' | 'deferred';
  attempt?: number;
  status_code?: number | null;
}

/** The job id of a delivery's `attempt`-th attempt when it is a retry (the first uses the delivery id). */
export function retryJobId(deliveryId: string, attempt: number): string {
  return `${deliveryId}.a${attempt}`;
}

/**
 * Runs delivery attempts: `delivery.send` (first attempts, `delivery` queue) and `delivery.retry`
 * (later ones, `retry` queue, so a failing endpoint's retries never hold up fresh deliveries).
 * Per job: claim the row (batched with other jobs' claims), sign and POST, then record the
 * outcome (batched too) before the job completes; a retry is enqueued only once its row says
 * `retrying`. A delivery over its endpoint's in-flight cap waits for one of its slots, holding its
 * job's worker slot, behind at most the cap's number of others (so a busy endpoint slows the intake);
 * past that it is parked (EndpointPark) and its job goes back to the queue delayed, holding no worker
 * slot: a slow endpoint can neither occupy every slot nor make its backlog cycle through the queue;
 * its parked deliveries run as soon as its attempts end.
 */
@Injectable()
export class DeliveryExecutor implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryExecutor.name);
  private readonly client: DeliveryClient;
  private readonly inFlight = new Map<string, number>();
  private readonly secrets = new Map<string, string>();
  private readonly claims: MicroBatcher<ClaimRequest, ClaimedDelivery | undefined>;
  private readonly records: MicroBatcher<AttemptRecord, boolean>;
  private readonly park = new EndpointPark(PARK_LIMITS);
  /** Jobs waiting for a slot of their webhook's cap, per webhook, first come first served. */
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Parked deliveries being attempted (outside any job, so shutdown waits for them itself). */
  private readonly parkedRuns = new Set<Promise<void>>();
  private closing = false;

  constructor(
    private readonly store: DeliveryStore,
    private readonly box: SecretBox,
    private readonly jobs: JobProducer,
    private readonly config: AppConfig,
    private readonly metrics: EngineMetrics,
  ) {
    this.client = new DeliveryClient({
      allowlist: config.allowlist,
      userAgent: DELIVERY_USER_AGENT,
      // Several webhooks may share an origin: the per-webhook cap is enforced above the pool, not by it.
      maxSocketsPerOrigin: Math.max(config.DELIVERY_CONCURRENCY, config.RETRY_CONCURRENCY),
    });
    this.claims = new MicroBatcher(
      async (requests: ClaimRequest[]) => {
        const ids = [...new Set(requests.map((r) => r.deliveryId))];
        const reclaimable = [...new Set(requests.filter((r) => r.reclaim).map((r) => r.deliveryId))];
        const claimed = await this.store.claim(ids, reclaimable);
        // The same delivery twice in one flush (its job and its parked run): only the first gets the claim.
        return requests.map((r) => {
          const row = claimed.get(r.deliveryId);
          claimed.delete(r.deliveryId);
          return row;
        });
      },
      { maxBatch: 256, maxConcurrent: 2 },
    );
    this.records = new MicroBatcher(
      async (records) => {
        const updated = await this.store.record(records);
        // Counted once per batch, and only what was written (a stale record changes nothing).
        this.metrics.recordAttempts(records.filter((r) => updated.has(r.delivery_id)));
        return records.map((r) => updated.has(r.delivery_id));
      },
      { maxBatch: 512, maxConcurrent: 1 },
    );
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
    this.closing = true;
    const parked = this.park.drain();
    await Promise.all(parked.map((p) => this.jobs.promote(p.job.name, p.job.id).catch(() => false)));
    await Promise.all([...this.parkedRuns]);
  }

  onApplicationShutdown(): void {
    this.client.close();
  }

  /** Deliveries in flight to one webhook in this process. */
  inFlightTo(webhookId: string): number {
    return this.inFlight.get(webhookId) ?? 0;
  }

  /** Deliveries parked for one webhook in this process. */
  parkedFor(webhookId: string): number {
    return this.park.sizeOf(webhookId);
  }

  private async run(
    payload: DeliveryJob,
    context: JobContext<'delivery.send'> | JobContext<'delivery.retry'>,
  ): Promise<DeliveryJobResult> {
    const jobId = context.job.id;
    const slot = this.slot(payload.webhook_id);
    if (slot === 'park' && context.token && jobId !== undefined) {
      const delay = this.parkOverCap(payload, { name: context.job.name, id: jobId });
      await context.job.moveToDelayed(Date.now() + delay, context.token);
      this.pump(payload.webhook_id);
      throw new DelayedError();
    }
    const held = slot === 'park' ? this.waitInLine(payload.webhook_id) : slot;
    const reclaim = payload.reclaim === true || mayReclaim(context.job);
    return this.inSlot(payload.webhook_id, held, () => this.attempt(payload.delivery_id, reclaim));
  }

  private async runInBatch(delivery: DeliveryJob, reclaim: boolean): Promise<DeliveryJobResult> {
    const slot = this.slot(delivery.webhook_id);
    if (slot === 'park') {
      const job = sendJob(delivery);
      const delay = this.parkOverCap(delivery, { name: 'delivery.send', id: delivery.delivery_id });
      await this.jobs.addBulk([{ ...job, opts: { ...job.opts, delay } }]);
      this.pump(delivery.webhook_id);
      return { delivery_id: delivery.delivery_id, status: 'deferred' };
    }
    return this.inSlot(delivery.webhook_id, slot, () => this.attempt(delivery.delivery_id, reclaim));
  }

  /**
   * One of the webhook's in-flight slots: `free` now; or a promise of one, the job waiting for it
   * (holding its worker slot, so a busy endpoint slows the intake instead of growing a backlog in
   * memory) behind fewer than the cap's number of others; or `park` when that line is full or
   * deliveries are parked already (they go first): a slow endpoint then holds at most twice its cap
   * of worker slots.
   */
  private slot(webhookId: string): 'free' | 'park' | Promise<void> {
    if (!this.atCap(webhookId)) return 'free';
    const waiting = this.waiting.get(webhookId)?.length ?? 0;
    if (this.park.sizeOf(webhookId) > 0 || waiting >= this.config.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT) return 'park';
    return this.waitInLine(webhookId);
  }

  /** Resolves when a slot of the webhook's cap is handed to this job (already counted as in flight). */
  private waitInLine(webhookId: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const line = this.waiting.get(webhookId);
      if (line) line.push(resolve);
      else this.waiting.set(webhookId, [resolve]);
    });
  }

  /**
   * Parks a delivery over its cap (unless this worker is stopping, or the park is full) and returns
   * how long its job waits: the park's safety net, or soon for another worker when this one stops.
   */
  private parkOverCap(delivery: DeliveryJob, job: ParkedDelivery['job']): number {
    if (!this.closing && this.park.park({ ...delivery, job })) {
      return parkSafetyDelay(this.park.sizeOf(delivery.webhook_id) - 1);
    }
    return this.closing ? CLOSING_DELAY_MS : parkSafetyDelay(null);
  }

  /** Runs a webhook's parked deliveries while it has free slots. */
  private pump(webhookId: string): void {
    while (!this.closing && !this.atCap(webhookId)) {
      const next = this.park.take(webhookId);
      if (!next) return;
      this.runParked(next);
    }
  }

  /**
   * Attempts a parked delivery now (its slot taken at once) and drops its delayed job. It never claims
   * an `in_flight` row: then its safety-net job fired meanwhile and that attempt is under way.
   */
  private runParked(parked: ParkedDelivery): void {
    const fields = { delivery_id: parked.delivery_id, webhook_id: parked.webhook_id, parked: true };
    const attempt = (): Promise<DeliveryJobResult> => this.attempt(parked.delivery_id, false);
    const run = withLogFields(fields, () => this.inSlot(parked.webhook_id, 'free', attempt)).then(
      () => undefined,
      (err: unknown) => {
        // Its row is still due or in flight: the sweeper enqueues it again.
        this.logger.warn(`parked delivery ${parked.delivery_id}: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    this.parkedRuns.add(run);
    void run.finally(() => this.parkedRuns.delete(run));
    // A job that fires meanwhile finds the delivery claimed (in_flight) and is skipped; this only saves it the trip.
    void this.jobs.remove(parked.job.name, parked.job.id).catch(() => false);
  }

  private atCap(webhookId: string): boolean {
    return (this.inFlight.get(webhookId) ?? 0) >= this.config.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT;
  }

  /**
   * Runs the attempt in a slot of its webhook's cap: taken now (`free`, counted at once, before any
   * await) or handed over by the job ahead. An ending attempt hands its slot to the next job waiting,
   * or else frees it and runs the next parked delivery.
   */
  private async inSlot<T>(webhookId: string, slot: 'free' | Promise<void>, work: () => Promise<T>): Promise<T> {
    if (slot === 'free') this.inFlight.set(webhookId, (this.inFlight.get(webhookId) ?? 0) + 1);
    else await slot;
    try {
      return await work();
    } finally {
      this.release(webhookId);
    }
  }

  private release(webhookId: string): void {
    const line = this.waiting.get(webhookId);
    const next = line?.shift();
    if (line?.length === 0) this.waiting.delete(webhookId);
    if (next) {
      next();
      return;
    }
    const left = (this.inFlight.get(webhookId) ?? 1) - 1;
    if (left <= 0) this.inFlight.delete(webhookId);
    else this.inFlight.set(webhookId, left);
    this.pump(webhookId);
  }

  /** One attempt; `reclaim`: the row may be taken over from an abandoned attempt (see DeliveryJob.reclaim). */
  private async attempt(deliveryId: string, reclaim: boolean): Promise<DeliveryJobResult> {
    const claimed = await this.claims.submit({ deliveryId, reclaim });
    if (!claimed) return { delivery_id: deliveryId, status: 'skipped' };
    const startedAt = new Date();
    const webhook = claimed.webhook;
    if (!webhook || webhook.is_deleted || webhook.status !== 'active') {
      const why = !webhook || webhook.is_deleted ? 'the webhook was deleted' : `the webhook is ${webhook.status}`;
      await this.records.submit(notAttempted(claimed, startedAt, why));
      return { delivery_id: deliveryId, status: 'failed', attempt: claimed.attempt };
    }

    // `{ type, timestamp, data }`, with the payload's JSON text spliced in as stored.
    const body = `{"type":${JSON.stringify(claimed.event_type)},"timestamp":"${claimed.occurred_at.toISOString()}","data":${claimed.data}}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signDelivery(this.signingSecrets(claimed, webhook), claimed.delivery_id, timestamp, body);
    const result = await this.client.post(
      webhook.endpoint_url,
      body,
      { ...webhook.headers, ...signature },
      webhook.retry_policy.timeout_ms,
    );
    const decision = decideAttempt(result, claimed.attempt, webhook.retry_policy.max_attempts, new Date());
    const nextAt = decision.retryDelayMs === null ? null : new Date(Date.now() + decision.retryDelayMs);
    const written = await this.records.submit(
      attempted(
        claimed,
        startedAt,
        result,
        decision.status,
        decision.errorKind,
        nextAt,
        decision.webhookAction === 'disable',
      ),
    );
    if (written && decision.status === 'retrying' && decision.retryDelayMs !== null) {
      await this.enqueueRetry(claimed, decision.retryDelayMs);
    }
    this.logger.debug({
      msg: 'delivery attempted',
      tenant: claimed.orgcode,
      attempt: claimed.attempt,
      outcome: decision.status,
      status_code: result.status,
      error_kind: decision.errorKind,
      duration_ms: Date.now() - startedAt.getTime(),
      next_attempt_at: nextAt?.toISOString() ?? null,
    });
    return { delivery_id: deliveryId, status: decision.status, attempt: claimed.attempt, status_code: result.status };
  }

  /**
   * Enqueues the next attempt. If Redis is unavailable now, the row still says `retrying` with its
   * due time, and the sweeper enqueues it once it is due: nothing is lost, so the job does not fail.
   */
  private async enqueueRetry(claimed: ClaimedDelivery, delayMs: number): Promise<void> {
    const job: BulkJob = {
      name: 'delivery.retry',
      payload: { delivery_id: claimed.delivery_id, webhook_id: claimed.webhook_id },
      opts: { ...DELIVERY_JOB_OPTIONS, jobId: retryJobId(claimed.delivery_id, claimed.attempt + 1), delay: delayMs },
    };
    try {
      await this.jobs.addBulk([job]);
    } catch (err) {
      this.logger.warn(
        `delivery ${claimed.delivery_id}: could not enqueue attempt ${claimed.attempt + 1} (the sweeper will): ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
    }
  }

  /** The current secret, and the previous one during its grace period; opened once per sealed value. */
  private signingSecrets(claimed: ClaimedDelivery, webhook: NonNullable<ClaimedDelivery['webhook']>): string[] {
    const secrets = [this.open(webhook.secret_sealed, claimed.webhook_id)];
    if (
      webhook.previous_secret_sealed &&
      webhook.previous_secret_expires_at &&
      new Date(webhook.previous_secret_expires_at).getTime() > Date.now()
    ) {
      secrets.push(this.open(webhook.previous_secret_sealed, claimed.webhook_id));
    }
    return secrets;
  }

  private open(sealed: string, webhookId: string): string {
    let secret = this.secrets.get(sealed);
    if (secret === undefined) {
      secret = this.box.openText(sealed, webhookId);
      if (this.secrets.size >= 10_000) this.secrets.clear();
      this.secrets.set(sealed, secret);
    }
    return secret;
  }
}

/** A claim of one delivery; `reclaim`: even if `in_flight` (its attempt was abandoned). */
interface ClaimRequest {
  deliveryId: string;
  reclaim: boolean;
}

/**
 * Whether a job's deliveries may be claimed again when `in_flight`: BullMQ runs it again after a stall
 * (its worker died or froze past the lock) or after it failed (its attempts all settled first). A first
 * run may not: an `in_flight` row then belongs to another live attempt.
 */
export function mayReclaim(job: { attemptsMade: number; stalledCounter: number }): boolean {
  return job.attemptsMade > 0 || job.stalledCounter > 0;
}

/** PostgreSQL text cannot hold U+0000, which a receiver's body may. */
function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.split('\u0000').join('\uFFFD') : text;
}

function notAttempted(claimed: ClaimedDelivery, startedAt: Date, why: string): AttemptRecord {
  return {
    delivery_id: claimed.delivery_id,
    orgcode: claimed.orgcode,
    webhook_id: claimed.webhook_id,
    status: 'failed',
    attempted: false,
    attempt_no: claimed.attempt,
    started_at: startedAt,
    duration_ms: 0,
    status_code: null,
    error_kind: null,
    error: `not sent: ${why}`,
    response_headers: {},
    response_excerpt: '',
    next_attempt_at: null,
    disable_webhook: false,
  };
}

function attempted(
  claimed: ClaimedDelivery,
  startedAt: Date,
  result: AttemptResult,
  status: AttemptRecord['status'],
  errorKind: AttemptRecord['error_kind'],
  nextAt: Date | null,
  disable: boolean,
): AttemptRecord {
  return {
    delivery_id: claimed.delivery_id,
    orgcode: claimed.orgcode,
    webhook_id: claimed.webhook_id,
    status,
    attempted: true,
    attempt_no: claimed.attempt,
    started_at: startedAt,
    duration_ms: result.durationMs,
    status_code: result.status,
    error_kind: errorKind,
    error:
      result.errorMessage !== null
        ? withoutNul(result.errorMessage)
        : result.ok || result.status === null
          ? null
          : `HTTP ${result.status}`,
    response_headers: result.responseHeaders,
    response_excerpt: withoutNul(result.bodyExcerpt),
    next_attempt_at: nextAt,
    disable_webhook: disable,
  };
}
