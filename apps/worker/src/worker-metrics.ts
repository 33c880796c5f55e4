import { getQueueToken } from '@nestjs/bullmq';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Job, Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { BulkMetrics } from '@ipm/bulk';
import { within } from '@ipm/core';
import { ALL_QUEUES, QueueName, QueueWorkers } from '@ipm/queues';
import { DeliveryMetrics } from '@ipm/webhooks';

const COUNTED_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** A scrape-time read of Redis or PostgreSQL gives up after this long (an outage must not hang /metrics). */
export const SCRAPE_READ_TIMEOUT_MS = 2000;

/** The oldest unrelayed outbox row's age, by the partial index on pending rows (one row read). */
const OUTBOX_LAG_SQL = `
SELECT GREATEST(0, EXTRACT(EPOCH FROM now() - created_at))::float8 AS lag
  FROM event_outbox WHERE processed_at IS NULL ORDER BY seq LIMIT 1`;

/** What a queue reports at scrape time. */
export interface QueueSnapshot {
  counts: Partial<Record<(typeof COUNTED_STATES)[number], number>>;
  /** Creation time (ms) of the job that has waited longest, if any waits. */
  oldestWaitingAt: number | null;
}

/** Reads one queue's counts and its oldest waiting job (two cheap Redis reads). */
export async function snapshotQueue(queue: Pick<Queue, 'getJobCounts' | 'getJobs'>): Promise<QueueSnapshot> {
  const [counts, oldest] = await Promise.all([
    queue.getJobCounts(...COUNTED_STATES),
    // Ascending: the head of the wait list, the next job a worker would take.
    queue.getJobs(['waiting'], 0, 0, true),
  ]);
  return { counts, oldestWaitingAt: oldest[0]?.timestamp ?? null };
}

/**
 * Prometheus metrics of the worker: the process (prom-client defaults), per queue its job counts and
 * the age of its oldest waiting job (read from Redis at scrape time), the outbox lag (read from
 * PostgreSQL at scrape time), the jobs this process finished, and the features' counters
 * (DeliveryMetrics: deliveries by outcome, attempt latency, relay, sweeper; BulkMetrics: bulk lines), all in one
 * registry, not prom-client's global one, so that several app instances can share a process.
 */
@Injectable()
export class WorkerMetrics implements OnModuleInit {
  readonly registry: Registry;
  private readonly logger = new Logger(WorkerMetrics.name);
  private readonly processed: Counter<'queue' | 'job' | 'outcome'>;
  private queuesRead?: Promise<void>;

  constructor(
    private readonly workers: QueueWorkers,
    private readonly moduleRef: ModuleRef,
    private readonly dataSource: DataSource,
    deliveries: DeliveryMetrics,
    bulk: BulkMetrics,
  ) {
    // The features' counters first, in the order their series have always been listed.
    this.registry = Registry.merge([deliveries.registry]);
    bulk.registerIn(this.registry);
    const registers = [this.registry];
    // `app` tells the worker's process metrics (event-loop lag p99 and max included) from the api's.
    collectDefaultMetrics({ register: this.registry, labels: { app: 'worker' } });
    this.processed = new Counter({
      name: 'ipm_worker_jobs_processed_total',
      help: 'Jobs this worker process finished, by queue, job name and outcome (completed or failed)',
      labelNames: ['queue', 'job', 'outcome'],
      registers,
    });
    const counts: Gauge<'queue' | 'state'> = new Gauge({
      name: 'ipm_queue_jobs',
      help: 'Jobs in each queue by state (waiting, active, delayed, failed), read at scrape time',
      labelNames: ['queue', 'state'],
      registers,
      collect: () => this.refreshQueues(counts, oldest),
    });
    const oldest: Gauge<'queue'> = new Gauge({
      name: 'ipm_queue_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting in each queue (0 when none waits), read at scrape time',
      labelNames: ['queue'],
      registers,
      collect: () => this.refreshQueues(counts, oldest),
    });
    const lag: Gauge = new Gauge({
      name: 'ipm_outbox_lag_seconds',
      help: 'Age of the oldest outbox row not yet relayed into deliveries (0 when none), read at scrape time',
      registers,
      collect: () => this.collectOutboxLag(lag),
    });
  }

  onModuleInit(): void {
    for (const { queue, worker } of this.workers.workers) {
      worker.on('completed', (job: Job) => this.processed.inc({ queue, job: job.name, outcome: 'completed' }));
      worker.on('failed', (job: Job | undefined) =>
        this.processed.inc({ queue, job: job?.name ?? 'unknown', outcome: 'failed' }),
      );
    }
  }

  /** The Prometheus text exposition. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Both queue gauges' collect: prom-client collects every metric of a scrape at once, so the two
   * share one read of the queues (the one under way, if any).
   */
  private refreshQueues(counts: Gauge<'queue' | 'state'>, oldest: Gauge<'queue'>): Promise<void> {
    this.queuesRead ??= this.collectQueues(counts, oldest).finally(() => {
      this.queuesRead = undefined;
    });
    return this.queuesRead;
  }

  private async collectQueues(counts: Gauge<'queue' | 'state'>, oldest: Gauge<'queue'>): Promise<void> {
    counts.reset();
    oldest.reset();
    const now = Date.now();
    await Promise.all(
      ALL_QUEUES.map(async (name: QueueName) => {
        try {
          const queue = this.moduleRef.get<Queue>(getQueueToken(name), { strict: false });
          const snapshot = await within(SCRAPE_READ_TIMEOUT_MS, snapshotQueue(queue));
          for (const state of COUNTED_STATES) counts.set({ queue: name, state }, snapshot.counts[state] ?? 0);
          const age = snapshot.oldestWaitingAt === null ? 0 : Math.max(0, now - snapshot.oldestWaitingAt) / 1000;
          oldest.set({ queue: name }, age);
        } catch (err) {
          // Redis down: the process metrics are still worth serving; readiness reports the outage.
          this.logger.warn(
            `queue ${name} unavailable for metrics: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }),
    );
  }

  private async collectOutboxLag(gauge: Gauge): Promise<void> {
    try {
      const rows = await within(SCRAPE_READ_TIMEOUT_MS, this.dataSource.query<Array<{ lag: number }>>(OUTBOX_LAG_SQL));
      gauge.set(rows[0]?.lag ?? 0);
    } catch (err) {
      gauge.reset();
      this.logger.warn(`outbox lag unavailable for metrics: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
