import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { AppConfig } from '@ipm/core';
import { createApiApp } from './bootstrap';

/** Beyond SHUTDOWN_TIMEOUT_MS for the in-flight requests, closing connections gets this long before the process quits anyway. */
const CLOSE_GRACE_MS = 5_000;

async function main(): Promise<void> {
  const app = await createApiApp();
  const config = app.get(AppConfig);
  // SIGTERM: stop accepting, finish in-flight requests (Fastify answers 503 meanwhile), close, exit 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  // A request that never ends (a dependency that hangs) must not keep a stopping api alive forever.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        const after = config.SHUTDOWN_TIMEOUT_MS + CLOSE_GRACE_MS;
        Logger.error(`${signal}: requests still in flight ${after} ms later; exiting anyway`, 'Main');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS + CLOSE_GRACE_MS).unref();
    });
  }
  await app.listen(config.API_PORT, config.API_HOST);
  Logger.log(
    `api listening on http://${config.API_HOST}:${config.API_PORT} (build ${config.BUILD_ID}); docs at /docs`,
    'Main',
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
