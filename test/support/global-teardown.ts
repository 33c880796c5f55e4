import { Client } from 'pg';
import IORedis from 'ioredis';
import { loadConfig } from '../../libs/core/src/config/config.schema';

/** Drops the run's database and deletes its BullMQ keys. */
export default async function globalTeardown(): Promise<void> {
  const config = loadConfig(process.env);
  const url = new URL(config.DATABASE_URL);
  const name = url.pathname.slice(1);
  if (name.startsWith('ipm_test_')) {
    url.pathname = '/postgres';
    const client = new Client({ connectionString: url.toString() });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
  if (config.QUEUE_PREFIX.startsWith('ipm-test-')) {
    const redis = new IORedis(config.REDIS_URL);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.QUEUE_PREFIX}:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
}
