import { Logger } from '@nestjs/common';
import { withLogFields } from '@ipm/core';
import type { DeliveryJob } from '@ipm/queues';
import { EndpointPark, ParkedDelivery, parkSafetyDelay } from './endpoint-park';

/** Deliveries parked per webhook, and in all, per process. */
const PARK_LIMITS = { perWebhook: 10_000, total: 200_000 } as const;

/** The wait of a delivery over its cap that a stopping worker does not park. */
const CLOSING_DELAY_MS = 1_000;

/** What the slots need from the engine to run a parked delivery. */
export interface ParkedRunner {
  /** Attempts the parked delivery (its slot already taken). */
  attempt(parked: ParkedDelivery): Promise<unknown>;
  /** Drops the delayed job left behind as a safety net (a job that fires meanwhile is skipped anyway). */
  dropJob(job: ParkedDelivery['job']): Promise<unknown>;
}

/**
 * The per-endpoint in-flight cap of this process: each webhook has `maxInFlight` slots. A delivery
 * over the cap waits for one of its slots, holding its job's worker slot, behind at most the cap's
 * number of others (so a busy endpoint slows the intake); past that it is parked (EndpointPark) and
 * its job waits delayed, holding no worker slot: a slow endpoint can neither occupy every slot nor
 * make its backlog cycle through the queue; its parked deliveries run as soon as its attempts end.
 */
export class EndpointSlots {
  private readonly logger = new Logger(EndpointSlots.name);
  private readonly inFlight = new Map<string, number>();
  private readonly park = new EndpointPark(PARK_LIMITS);
  /** Jobs waiting for a slot of their webhook's cap, per webhook, first come first served. */
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Parked deliveries being attempted (outside any job, so shutdown waits for them itself). */
  private readonly parkedRuns = new Set<Promise<void>>();
  private closing = false;

  constructor(
    private readonly maxInFlight: number,
    private readonly runner: ParkedRunner,
  ) {}

  /** Deliveries in flight to one webhook in this process. */
  inFlightTo(webhookId: string): number {
    return this.inFlight.get(webhookId) ?? 0;
  }

  /** Deliveries parked for one webhook in this process. */
  parkedFor(webhookId: string): number {
    return this.park.sizeOf(webhookId);
  }

  /**
   * One of the webhook's in-flight slots: `free` now; or a promise of one, the job waiting for it
   * (holding its worker slot, so a busy endpoint slows the intake instead of growing a backlog in
   * memory) behind fewer than the cap's number of others; or `park` when that line is full or
   * deliveries are parked already (they go first): a slow endpoint then holds at most twice its cap
   * of worker slots.
   */
  slot(webhookId: string): 'free' | 'park' | Promise<void> {
    if (!this.atCap(webhookId)) return 'free';
    const waiting = this.waiting.get(webhookId)?.length ?? 0;
    if (this.park.sizeOf(webhookId) > 0 || waiting >= this.maxInFlight) return 'park';
    return this.waitInLine(webhookId);
  }

  /** Resolves when a slot of the webhook's cap is handed to this job (already counted as in flight). */
  waitInLine(webhookId: string): Promise<void> {
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
  parkOverCap(delivery: DeliveryJob, job: ParkedDelivery['job']): number {
    if (!this.closing && this.park.park({ ...delivery, job })) {
      return parkSafetyDelay(this.park.sizeOf(delivery.webhook_id) - 1);
    }
    return this.closing ? CLOSING_DELAY_MS : parkSafetyDelay(null);
  }

  /** Runs a webhook's parked deliveries while it has free slots. */
  pump(webhookId: string): void {
    while (!this.closing && !this.atCap(webhookId)) {
      const next = this.park.take(webhookId);
      if (!next) return;
      this.runParked(next);
    }
  }

  /**
   * Runs the work in a slot of its webhook's cap: taken now (`free`, counted at once, before any
   * await) or handed over by the job ahead. An ending attempt hands its slot to the next job waiting,
   * or else frees it and runs the next parked delivery.
   */
  async inSlot<T>(webhookId: string, slot: 'free' | Promise<void>, work: () => Promise<T>): Promise<T> {
    if (slot === 'free') this.inFlight.set(webhookId, (this.inFlight.get(webhookId) ?? 0) + 1);
    else await slot;
    try {
      return await work();
    } finally {
      this.release(webhookId);
    }
  }

  /**
   * Stops running parked deliveries and returns them (their jobs are for any worker now); `settled`
   * resolves once the parked attempts under way have ended.
   */
  close(): { parked: ParkedDelivery[]; settled: Promise<void> } {
    this.closing = true;
    const parked = this.park.drain();
    return { parked, settled: Promise.all([...this.parkedRuns]).then(() => undefined) };
  }

  /**
   * Attempts a parked delivery now (its slot taken at once) and drops its delayed job. It never claims
   * an `in_flight` row: then its safety-net job fired meanwhile and that attempt is under way.
   */
  private runParked(parked: ParkedDelivery): void {
    const fields = { delivery_id: parked.delivery_id, webhook_id: parked.webhook_id, parked: true };
    const run = withLogFields(fields, () =>
      this.inSlot(parked.webhook_id, 'free', () => this.runner.attempt(parked)),
    ).then(
      () => undefined,
      (err: unknown) => {
        // Its row is still due or in flight: the sweeper enqueues it again.
        this.logger.warn(`parked delivery ${parked.delivery_id}: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    this.parkedRuns.add(run);
    void run.finally(() => this.parkedRuns.delete(run));
    // A job that fires meanwhile finds the delivery claimed (in_flight) and is skipped; this only saves it the trip.
    void this.runner.dropJob(parked.job).catch(() => false);
  }

  private atCap(webhookId: string): boolean {
    return (this.inFlight.get(webhookId) ?? 0) >= this.maxInFlight;
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
}
