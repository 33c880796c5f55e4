import { getQueueToken } from '@nestjs/bullmq';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Job, Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { ALL_QUEUES, QueueWorkers } from '@ipm/queues';

const COUNTED_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * Prometheus metrics of the worker: the process (prom-client defaults), the job counts of every
 * queue (read from Redis at scrape time) and the jobs this process finished, by name and outcome.
 * Own registry, not prom-client's global one, so that several app instances can share a process.
 */
@Injectable()
export class WorkerMetrics implements OnModuleInit {
  readonly registry = new Registry();
  private readonly logger = new Logger(WorkerMetrics.name);
  private readonly processed: Counter<'queue' | 'job' | 'outcome'>;

  constructor(
    private readonly workers: QueueWorkers,
    private readonly moduleRef: ModuleRef,
  ) {
    collectDefaultMetrics({ register: this.registry });
    this.processed = new Counter({
      name: 'ipm_worker_jobs_processed_total',
      help: 'Jobs this worker process finished, by queue, job name and outcome (completed or failed)',
      labelNames: ['queue', 'job', 'outcome'],
      registers: [this.registry],
    });
    const counts: Gauge<'queue' | 'state'> = new Gauge({
      name: 'ipm_queue_jobs',
      help: 'Jobs in each queue by state (waiting, active, delayed, failed), read at scrape time',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      collect: () => this.collectCounts(counts),
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

  private async collectCounts(gauge: Gauge<'queue' | 'state'>): Promise<void> {
    gauge.reset();
    await Promise.all(
      ALL_QUEUES.map(async (name) => {
        try {
          const queue = this.moduleRef.get<Queue>(getQueueToken(name), { strict: false });
          const counts = await queue.getJobCounts(...COUNTED_STATES);
          for (const state of COUNTED_STATES) gauge.set({ queue: name, state }, counts[state] ?? 0);
        } catch (err) {
          // Redis down: the process metrics are still worth serving; readiness reports the outage.
          this.logger.warn(
            `job counts of queue ${name} unavailable: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }),
    );
  }
}
