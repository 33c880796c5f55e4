import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { JobHandlerRegistry } from './job-handler.registry';
import { QUEUE_PROCESSORS } from './queue.processors';
import { QueueWorkers } from './queue-workers';

/**
 * The consuming side, for the worker app only: one processor per queue, the handler registry
 * (boot fails unless every job has exactly one @JobHandler), and worker start/drain.
 * Requires QueuesModule and AppConfigModule (both global).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [JobHandlerRegistry, ...Object.values(QUEUE_PROCESSORS), QueueWorkers],
  exports: [JobHandlerRegistry, QueueWorkers],
})
export class QueuesWorkerModule {}
