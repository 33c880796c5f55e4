import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { AppConfig, ConfigError } from '@ipm/core';
import { createWorkerApp } from './bootstrap';

/** Beyond the drain (SHUTDOWN_TIMEOUT_MS), closing connections gets this long before the process quits anyway. */
const CLOSE_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const app = await createWorkerApp();
  const config = app.get(AppConfig);
  // On SIGTERM/SIGINT Nest runs the shutdown hooks (drain the queues, close HTTP, Redis and
  // PostgreSQL), then exits 0 (1 if a hook throws).
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      Logger.log(`${signal}: draining jobs (up to ${config.SHUTDOWN_TIMEOUT_MS} ms), then exiting`, 'Main');
      setTimeout(() => {
        Logger.error('shutdown did not finish in time; exiting', 'Main');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS + CLOSE_GRACE_MS).unref();
    });
  }
}

main().catch((err: unknown) => {
  // A configuration error names the variables; anything else is worth its stack.
  console.error(err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
