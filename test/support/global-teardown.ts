import { loadConfig } from '../../libs/core/src/config/config.schema';
import { deleteKeysWithPrefix, dropDatabase } from './cleanup';

/** Drops the run's database and deletes its BullMQ keys. */
export default async function globalTeardown(): Promise<void> {
  const config = loadConfig(process.env);
  if (new URL(config.DATABASE_URL).pathname.startsWith('/ipm_test_')) await dropDatabase(config.DATABASE_URL);
  if (config.QUEUE_PREFIX.startsWith('ipm-test-')) await deleteKeysWithPrefix(config.REDIS_URL, config.QUEUE_PREFIX);
}
