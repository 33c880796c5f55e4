import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { AppConfig } from '@ipm/core';
import { createApiApp } from './bootstrap';

async function main(): Promise<void> {
  const app = await createApiApp();
  const config = app.get(AppConfig);
  // SIGTERM: stop accepting, finish in-flight requests (Fastify answers 503 meanwhile), close, exit 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
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
