import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable, Type } from '@nestjs/common';
import type { Job } from 'bullmq';
import { AppConfig } from '@ipm/core';
import { JobHandlerRegistry } from './job-handler.registry';
import { QueueName } from './queue-names';

/**
 * A queue's consumer: thin by design, it hands every job to the handler registered for the
 * job's name. Workers are created stopped (`autorun: false`); QueueWorkers starts them once the
 * application has bootstrapped, so no job runs before every handler is known.
 */
@Injectable()
export abstract class QueueProcessor extends WorkerHost {
  constructor(private readonly registry: JobHandlerRegistry) {
    super();
  }

  process(job: Job, token?: string, signal?: AbortSignal): Promise<unknown> {
    return this.registry.dispatch(job, signal, token);
  }
}

/** The options a queue's BullMQ worker is created with: `autorun: false`, plus what config sets. */
export interface QueueWorkerOptions {
  autorun: false;
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
}

/**
 * One options object per queue, held by reference in each @Processor's metadata: {@link configureQueueWorkers}
 * fills them from config before @nestjs/bullmq creates the workers (in its onModuleInit, after every provider,
 * including the one that calls it, was instantiated).
 */
export const QUEUE_WORKER_OPTIONS: Readonly<Record<QueueName, QueueWorkerOptions>> = {
  [QueueName.Delivery]: { autorun: false },
  [QueueName.Retry]: { autorun: false },
  [QueueName.Replay]: { autorun: false },
  [QueueName.Bulk]: { autorun: false },
  [QueueName.Maintenance]: { autorun: false },
};

/** Concurrency per queue (per BullMQ worker: `delivery` has DELIVERY_FETCHERS of them) and the job lock (a dead worker's jobs stall back after about QUEUE_LOCK_MS). */
export function configureQueueWorkers(config: AppConfig): Readonly<Record<QueueName, QueueWorkerOptions>> {
  const concurrency: Record<QueueName, number> = {
    [QueueName.Delivery]: Math.ceil(config.DELIVERY_CONCURRENCY / config.DELIVERY_FETCHERS),
    [QueueName.Retry]: config.RETRY_CONCURRENCY,
    [QueueName.Replay]: config.REPLAY_CONCURRENCY,
    [QueueName.Bulk]: config.BULK_CONCURRENCY,
    [QueueName.Maintenance]: config.MAINTENANCE_CONCURRENCY,
  };
  for (const [queue, options] of Object.entries(QUEUE_WORKER_OPTIONS) as [QueueName, QueueWorkerOptions][]) {
    options.concurrency = concurrency[queue];
    options.lockDuration = config.QUEUE_LOCK_MS;
    options.stalledInterval = config.QUEUE_LOCK_MS;
    options.maxStalledCount = 5;
  }
  return QUEUE_WORKER_OPTIONS;
}

@Processor(QueueName.Delivery, QUEUE_WORKER_OPTIONS[QueueName.Delivery])
export class DeliveryProcessor extends QueueProcessor {}

@Processor(QueueName.Retry, QUEUE_WORKER_OPTIONS[QueueName.Retry])
export class RetryProcessor extends QueueProcessor {}

@Processor(QueueName.Replay, QUEUE_WORKER_OPTIONS[QueueName.Replay])
export class ReplayProcessor extends QueueProcessor {}

@Processor(QueueName.Bulk, QUEUE_WORKER_OPTIONS[QueueName.Bulk])
export class BulkProcessor extends QueueProcessor {}

@Processor(QueueName.Maintenance, QUEUE_WORKER_OPTIONS[QueueName.Maintenance])
export class MaintenanceProcessor extends QueueProcessor {}

/** One processor per queue. */
export const QUEUE_PROCESSORS: Readonly<Record<QueueName, Type<QueueProcessor>>> = {
  [QueueName.Delivery]: DeliveryProcessor,
  [QueueName.Retry]: RetryProcessor,
  [QueueName.Replay]: ReplayProcessor,
  [QueueName.Bulk]: BulkProcessor,
  [QueueName.Maintenance]: MaintenanceProcessor,
};
