import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Job, Worker } from 'bullmq';
import { AppConfig } from '@ipm/core';
import { ALL_QUEUES, QueueName } from './queue-names';
import { QUEUE_PROCESSORS } from './queue.processors';

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
  private readonly logger = new Logger(QueueWorkers.name);
  private resolved?: readonly QueueWorker[];

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly config: AppConfig,
  ) {}

  /**
   * Every queue's BullMQ worker. @nestjs/bullmq creates them when its (global) module
   * initialises, which Nest does before any feature module's onModuleInit.
   */
  get workers(): readonly QueueWorker[] {
    this.resolved ??= ALL_QUEUES.map((queue) => ({
      queue,
      worker: this.moduleRef.get(QUEUE_PROCESSORS[queue]).worker,
    }));
    return this.resolved;
  }

  onModuleInit(): void {
    for (const { queue, worker } of this.workers) {
      // A Worker is an EventEmitter: an 'error' without a listener would crash the process.
      worker.on('error', (err: Error) => this.logger.error(`queue ${queue}: ${err.message}`));
      worker.on('failed', (job: Job | undefined, err: Error) =>
        this.logger.warn(`queue ${queue}: job ${job?.name ?? '?'} #${job?.id ?? '?'} failed: ${err.message}`),
      );
    }
  }

  onApplicationBootstrap(): void {
    for (const { queue, worker } of this.workers) {
      worker.run().catch((err: unknown) => {
        this.logger.error(`queue ${queue}: worker stopped: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    this.logger.log(`consuming ${this.workers.map((w) => w.queue).join(', ')}`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain(this.config.SHUTDOWN_TIMEOUT_MS);
  }

  /**
   * Stops fetching and waits for the active jobs, at most `timeoutMs`. Jobs still running then
   * are signalled to abort and abandoned: their locks lapse and BullMQ's stalled-job check hands
   * them to another worker.
   */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      await Promise.all(
        this.workers.map(async ({ queue, worker }) => {
          // pause() (unlike close()) can be followed by a forced close when the wait runs out.
          const finished = await Promise.race([
            worker.pause().then(
              () => true,
              (err: unknown) => {
                this.logger.error(`queue ${queue}: pause failed: ${err instanceof Error ? err.message : String(err)}`);
                return false;
              },
            ),
            timedOut,
          ]);
          if (!finished) {
            this.logger.warn(`queue ${queue}: jobs still running after ${timeoutMs} ms; abandoning them`);
            worker.cancelAllJobs('worker shutting down');
          }
          await worker.close(!finished);
        }),
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
