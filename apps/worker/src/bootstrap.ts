import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createAppLogger, loadConfig } from '@ipm/core';
import { WorkerModule } from './worker.module';

/**
 * Builds and starts the worker (an application context, not an HTTP app): handlers checked,
 * queues consumed, health/metrics server listening on WORKER_PORT. main.ts and the tests both
 * start from here; closing the context drains the queues first.
 */
export async function createWorkerApp(): Promise<INestApplicationContext> {
  const bootConfig = loadConfig(process.env); // fail fast, before Nest starts anything
  return NestFactory.createApplicationContext(WorkerModule, {
    logger: createAppLogger(bootConfig, 'worker'),
    abortOnError: false,
  });
}
