import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../libs/core/src/config/config.schema';
import { runMigrations } from '../../libs/persistence/src/migrate';

/**
 * One database and one BullMQ prefix per run, so that runs never collide (two at once on one
 * machine, or a rerun after a crash). Tests configure through the environment, like operators.
 */
export default async function globalSetup(): Promise<void> {
  const base = loadConfig(process.env);
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = new URL(base.DATABASE_URL);
  url.pathname = `/ipm_test_${runId}`;
  process.env.DATABASE_URL = url.toString();
  process.env.QUEUE_PREFIX = `ipm-test-${runId}`;
  process.env.IPM_TEST_RUN_ID = runId;
  process.env.LOG_LEVEL ??= 'warn';
  // Tests drive the api far faster than a tenant would: rate limits only where a test sets its own.
  for (const name of [
    'RATE_LIMIT_PER_SECOND',
    'RATE_LIMIT_TENANT_PER_SECOND',
    'RATE_LIMIT_PUBLISH_PER_SECOND',
    'RATE_LIMIT_PUBLISH_TENANT_PER_SECOND',
  ]) {
    process.env[name] ??= '1000000';
  }
  await runMigrations(loadConfig(process.env));
}
