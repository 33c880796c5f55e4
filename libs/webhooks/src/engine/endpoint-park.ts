import type { JobName } from '@ipm/queues';

/**
 * A delivery over its endpoint's in-flight cap is parked in this process until one of the
 * endpoint's slots frees; its job meanwhile waits delayed, a safety net should this process die:
 * `base` plus `perAhead` for each delivery ahead of it in its endpoint's line (those go first
 * anyway), at most `max`, plus up to a tenth more. A delivery that finds the park full waits `max`.
 */
export const PARK_SAFETY_DELAY_MS = { base: 5_000, perAhead: 50, max: 60_000 } as const;

/** The safety net's delay for a delivery with `ahead` others before it in its line (null: not parked). */
export function parkSafetyDelay(ahead: number | null): number {
  const { base, perAhead, max } = PARK_SAFETY_DELAY_MS;
  const ms = ahead === null ? max : Math.min(max, base + ahead * perAhead);
  return ms * (1 + Math.random() / 10);
}

/** A delivery that found its endpoint at the in-flight cap, waiting in this process for one of its slots. */
export interface ParkedDelivery {
  delivery_id: string;
  webhook_id: string;
  /** The queued job that stays behind as a safety net (delayed by PARK_SAFETY_DELAY_MS), removed once run. */
  job: { name: JobName; id: string };
}

export interface EndpointParkLimits {
  /** Deliveries parked per webhook; past it a delivery only waits in its delayed job. */
  perWebhook: number;
  /** Deliveries parked in all. */
  total: number;
}

/**
 * Per-webhook FIFO queues of deliveries over their endpoint's in-flight cap. A slow or hanging
 * endpoint's backlog waits here, costing nothing until one of its slots frees, instead of
 * cycling through the queue every few hundred milliseconds (which cost every other endpoint
 * its latency). Bounded; each entry is a delivery id, not its payload.
 */
export class EndpointPark {
  private readonly queues = new Map<string, ParkedDelivery[]>();
  private readonly parked = new Set<string>();

  constructor(private readonly limits: EndpointParkLimits) {}

  /** Deliveries parked in all. */
  get size(): number {
    return this.parked.size;
  }

  /** Deliveries parked for one webhook. */
  sizeOf(webhookId: string): number {
    return this.queues.get(webhookId)?.length ?? 0;
  }

  has(deliveryId: string): boolean {
    return this.parked.has(deliveryId);
  }

  /**
   * Parks a delivery at the back of its webhook's line. `false` when the park is full (the caller
   * falls back to its delayed job alone); `true` when parked, or already parked (a sweeper's or
   * the safety net's job came back for it).
   */
  park(delivery: ParkedDelivery): boolean {
    if (this.parked.has(delivery.delivery_id)) return true;
    const line = this.queues.get(delivery.webhook_id);
    if ((line?.length ?? 0) >= this.limits.perWebhook || this.parked.size >= this.limits.total) return false;
    if (line) line.push(delivery);
    else this.queues.set(delivery.webhook_id, [delivery]);
    this.parked.add(delivery.delivery_id);
    return true;
  }

  /** The next delivery of a webhook's line, taken off the park; undefined when none waits. */
  take(webhookId: string): ParkedDelivery | undefined {
    const line = this.queues.get(webhookId);
    const next = line?.shift();
    if (!next) return undefined;
    if (!line?.length) this.queues.delete(webhookId);
    this.parked.delete(next.delivery_id);
    return next;
  }

  /** Empties the park, returning what it held (at shutdown). */
  drain(): ParkedDelivery[] {
    const all = [...this.queues.values()].flat();
    this.queues.clear();
    this.parked.clear();
    return all;
  }
}
