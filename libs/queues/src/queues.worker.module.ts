import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { JobHandlerRegistry } from './job-handler.registry';
import { AppConfig } from '@ipm/core';
import { configureQueueWorkers, QUEUE_PROCESSORS } from './queue.processors';
import { QueueWorkers } from './queue-workers';

/**
 * The consuming side, for the worker app only: one processor per queue, the handler registry
 * (boot fails unless every job has exactly one @JobHandler), and worker start/drain.
 * Requires QueuesModule and AppConfigModule (both global).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    // Instantiated before any onModuleInit, so before @nestjs/bullmq creates the workers from these options.
    {
      provide: 'QUEUE_WORKER_OPTIONS',
      inject: [AppConfig],
      useFactory: (config: AppConfig) => configureQueueWorkers(config),
    },
    JobHandlerRegistry,
    ...Object.values(QUEUE_PROCESSORS),
    QueueWorkers,
  ],
  exports: [JobHandlerRegistry, QueueWorkers],
})
export class QueuesWorkerModule {}
