import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable, Type } from '@nestjs/common';
import type { Job } from 'bullmq';
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

const STOPPED = { autorun: false } as const;

@Processor(QueueName.Delivery, STOPPED)
export class DeliveryProcessor extends QueueProcessor {}

@Processor(QueueName.Retry, STOPPED)
export class RetryProcessor extends QueueProcessor {}

@Processor(QueueName.Replay, STOPPED)
export class ReplayProcessor extends QueueProcessor {}

@Processor(QueueName.Bulk, STOPPED)
export class BulkProcessor extends QueueProcessor {}

@Processor(QueueName.Maintenance, STOPPED)
export class MaintenanceProcessor extends QueueProcessor {}

/** One processor per queue. */
export const QUEUE_PROCESSORS: Readonly<Record<QueueName, Type<QueueProcessor>>> = {
  [QueueName.Delivery]: DeliveryProcessor,
  [QueueName.Retry]: RetryProcessor,
  [QueueName.Replay]: ReplayProcessor,
  [QueueName.Bulk]: BulkProcessor,
  [QueueName.Maintenance]: MaintenanceProcessor,
};
