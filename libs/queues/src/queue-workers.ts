import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { type Job, Worker } from 'bullmq';
import { AppConfig } from '@ipm/core';
import { jobLogFields } from './job-log-fields';
import { ALL_QUEUES, QueueName } from './queue-names';
import { QUEUE_PROCESSORS } from './queue.processors';
import { servedQueues } from './worker-queues';

export interface QueueWorker {
  queue: QueueName;
  worker: Worker;
}

/**
 * Starts the queue workers once the application has bootstrapped, and drains them first
 * thing at shutdown: no new jobs are taken, in-flight jobs get up to SHUTDOWN_TIMEOUT_MS to
 * finish, and only then do the queues, Redis and PostgreSQL close (those close in
 * onApplicationShutdown, which Nest runs after every beforeApplicationShutdown).
 */
@Injectable()
export class QueueWorkers implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  /** After SHUTDOWN_TIMEOUT_MS, how long aborted jobs get to unwind before the workers are force-closed. */
  static readonly ABORT_GRACE_MS = 2000;
  private readonly logger = new Logger(QueueWorkers.name);
  private resolved?: readonly QueueWorker[];

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly config: AppConfig,
  ) {}

  /**
   * Every queue's BullMQ workers. @nestjs/bullmq creates one per queue when its (global) module
   * initialises, which Nest does before any feature module's onModuleInit. The `delivery` queue
   * gets DELIVERY_FETCHERS of them in all (the extra ones made here, same processor and options,
   * concurrency split between them): a BullMQ worker fetches jobs one round trip after another, so
   * a burst of fan-out jobs is picked up that many times faster. Only the queues in WORKER_QUEUES:
   * the others' workers are never started (and closed at bootstrap, see onApplicationBootstrap).
   */
  get workers(): readonly QueueWorker[] {
    this.resolved ??= servedQueues(this.config).flatMap((queue) => {
      const processor = this.moduleRef.get(QUEUE_PROCESSORS[queue]);
      const main = processor.worker;
      const extra = queue === QueueName.Delivery ? this.config.DELIVERY_FETCHERS - 1 : 0;
      const more = Array.from(
        { length: extra },
        () =>
          new Worker(queue, (job, token, signal) => processor.process(job, token, signal), {
            ...main.opts,
            autorun: false,
          }),
      );
      return [main, ...more].map((worker) => ({ queue, worker }));
    });
    return this.resolved;
  }

  onModuleInit(): void {
    for (const { queue, worker } of this.workers) {
      // A Worker is an EventEmitter: an 'error' without a listener would crash the process.
      worker.on('error', (err: Error) => this.logger.error(`queue ${queue}: ${err.message}`));
      worker.on('failed', (job: Job | undefined, err: Error) =>
        this.logger.warn({
          msg: `queue ${queue}: job ${job?.name ?? '?'} #${job?.id ?? '?'} failed: ${err.message}`,
          ...(job ? jobLogFields(job) : { queue }),
          error: err.message,
        }),
      );
    }
  }

  onApplicationBootstrap(): void {
    for (const { queue, worker } of this.workers) {
      worker.run().catch((err: unknown) => {
        this.logger.error(`queue ${queue}: worker stopped: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    const served = new Set(this.workers.map((w) => w.queue));
    const ignored = ALL_QUEUES.filter((queue) => !served.has(queue));
    for (const queue of ignored) {
      // Created stopped by @nestjs/bullmq; closing frees its Redis connection (closing again at shutdown is a no-op).
      const worker = this.moduleRef.get(QUEUE_PROCESSORS[queue]).worker;
      worker.close().catch((err: unknown) => {
        this.logger.warn(`queue ${queue}: close failed: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    this.logger.log(
      `consuming ${this.workers.map((w) => `${w.queue} (concurrency ${w.worker.concurrency})`).join(', ')}` +
        (ignored.length ? `; not consuming ${ignored.join(', ')} (WORKER_QUEUES)` : ''),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain(this.config.SHUTDOWN_TIMEOUT_MS);
  }

  /**
   * Stops fetching and waits for the active jobs, at most `timeoutMs`. Jobs still running then
   * get their abort signal and ABORT_GRACE_MS to unwind (a job that fails is retried later);
   * whatever still runs after that is abandoned: its lock lapses and BullMQ's stalled-job check
   * hands it to another worker.
   */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = timer(timeoutMs);
    try {
      await Promise.all(
        this.workers.map(async ({ queue, worker }) => {
          // pause() waits for the active jobs and, unlike close(), can still be followed by a forced close.
          const pausing = worker.pause().then(
            () => 'drained' as const,
            (err: unknown) => {
              this.logger.error(`queue ${queue}: pause failed: ${err instanceof Error ? err.message : String(err)}`);
              return 'failed' as const;
            },
          );
          let outcome = await Promise.race([pausing, deadline.elapsed]);
          if (outcome === 'timeout') {
            this.logger.warn(`queue ${queue}: jobs still running after ${timeoutMs} ms; aborting them`);
            worker.cancelAllJobs('worker shutting down');
            // Waiting for pause() to settle also matters because it reconnects the worker's blocking
            // connection when it does: that must happen before close(), not after it.
            const grace = timer(QueueWorkers.ABORT_GRACE_MS);
            outcome = await Promise.race([pausing, grace.elapsed]);
            grace.cancel();
            if (outcome === 'timeout') {
              this.logger.warn(`queue ${queue}: abandoning jobs that ignored the abort signal`);
              // When they do end, pause() reconnects the blocking connection: close it again then.
              void pausing.then(() => worker.disconnect()).catch(() => undefined);
            }
          }
          await worker.close(outcome !== 'drained');
        }),
      );
    } finally {
      deadline.cancel();
    }
  }
}

/** A timer whose promise resolves to 'timeout' when it elapses, and that can be cancelled. */
function timer(ms: number): { elapsed: Promise<'timeout'>; cancel: () => void } {
  let handle: NodeJS.Timeout | undefined;
  const elapsed = new Promise<'timeout'>((resolve) => {
    handle = setTimeout(() => resolve('timeout'), ms);
  });
  return { elapsed, cancel: () => clearTimeout(handle) };
}
