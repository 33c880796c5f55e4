import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { loadConfig } from '@ipm/core';
import { WorkerModule } from './worker.module';

/**
 * Builds and starts the worker (an application context, not an HTTP app): handlers checked,
 * queues consumed, health/metrics server listening on WORKER_PORT. main.ts and the tests both
 * start from here; closing the context drains the queues first. Logs are pino's (AppLoggingModule):
 * what Nest logs before the logger is ready is buffered and then written through it.
 */
export async function createWorkerApp(): Promise<INestApplicationContext> {
  loadConfig(process.env); // fail fast, before Nest starts anything
  const app = await NestFactory.createApplicationContext(WorkerModule, {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  return app;
}
