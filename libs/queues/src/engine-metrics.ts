import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';

/** Delivery outcomes, as recorded on the row. */
export type DeliveryOutcome = 'success' | 'retrying' | 'dead_letter' | 'failed';

/**
 * The delivery engine's counters, in a registry of their own that the worker's
 * /metrics serves (WorkerMetrics merges it). Provided by the global QueuesModule, so any engine class
 * can inject it. Every label has a small, fixed set of values: no tenant, webhook, URL or job id.
 */
@Injectable()
export class EngineMetrics {
  readonly registry = new Registry();
  /** Attempts recorded, by the delivery's resulting status and the attempt's error kind (`none` on success). */
  readonly deliveries: Counter<'outcome' | 'error_kind'>;
  /** Time of the HTTP attempt, by outcome class (`success`, `retrying`, `dead_letter`, `failed`). */
  readonly attemptDuration: Histogram<'outcome'>;
  /** Outbox rows relayed into deliveries, and the deliveries they made. */
  readonly outboxEvents: Counter;
  readonly deliveriesCreated: Counter;
  /** Jobs the sweeper put back into a queue, by job name. */
  readonly sweeperRequeued: Counter<'job'>;

  constructor() {
    const registers = [this.registry];
    this.deliveries = new Counter({
      name: 'ipm_deliveries_total',
      help: 'Delivery attempts recorded, by resulting delivery status and error kind',
      labelNames: ['outcome', 'error_kind'],
      registers,
    });
    this.attemptDuration = new Histogram({
      name: 'ipm_delivery_attempt_duration_seconds',
      help: 'Duration of delivery attempts (the HTTP request), by outcome',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.outboxEvents = new Counter({
      name: 'ipm_outbox_events_relayed_total',
      help: 'Outbox rows the relay turned into deliveries',
      registers,
    });
    this.deliveriesCreated = new Counter({
      name: 'ipm_deliveries_created_total',
      help: 'Deliveries the outbox relay created (one per matching event and webhook)',
      registers,
    });
    this.sweeperRequeued = new Counter({
      name: 'ipm_sweeper_requeued_total',
      help: 'Jobs the sweeper re-enqueued because no queue held them, by job name',
      labelNames: ['job'],
      registers,
    });
  }

  /** One batch of recorded attempts: counted, and their durations observed. */
  recordAttempts(
    attempts: ReadonlyArray<{
      status: DeliveryOutcome;
      error_kind: string | null;
      attempted: boolean;
      duration_ms: number;
    }>,
  ): void {
    const counts = new Map<string, number>();
    for (const a of attempts) {
      const key = `${a.status} ${a.error_kind ?? (a.attempted ? 'none' : 'not_sent')}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (a.attempted) this.attemptDuration.observe({ outcome: a.status }, a.duration_ms / 1000);
    }
    for (const [key, n] of counts) {
      const [outcome, error_kind] = key.split(' ');
      this.deliveries.inc({ outcome, error_kind }, n);
    }
  }
}
