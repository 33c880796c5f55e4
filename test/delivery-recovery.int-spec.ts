import type { ChildProcess } from 'node:child_process';
import IORedis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { bearer, startApi, TestApi, token, uniqueOrg } from './support/api';
import { BUILD_TIMEOUT_MS, ensureWorkerBuilt, spawnWorker } from './support/built-worker';
import { quietDatabase, TestReceiver } from './support/receiver';

// Nothing lost: built worker processes SIGKILLed mid-burst, and Redis flushed mid-burst. This file
// uses a Redis database of its own (index 2), so that FLUSHDB erases only what these tests put there.
const REDIS_DB_URL = 'redis://127.0.0.1:6379/2';
process.env.REDIS_URL = REDIS_DB_URL;
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:recovery`;
process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';

const WORKER_ENV = (): NodeJS.ProcessEnv => ({
  ...process.env,
  WORKER_PORT: '0',
  LOG_LEVEL: 'warn',
  NO_COLOR: '1',
  QUEUE_LOCK_MS: '2000', // a killed worker's jobs stall back after ~2 s
  SWEEPER_INTERVAL_MS: '500',
  SWEEPER_GRACE_MS: '2000',
  RELAY_POLL_MS: '10',
  DELIVERY_CONCURRENCY: '32',
  SHUTDOWN_TIMEOUT_MS: '2000',
});

const EVENTS = 100;
const WEBHOOKS = 4;

describe('nothing is lost (built worker processes, real PostgreSQL, Redis and receiver)', () => {
  let api: TestApi;
  let db: DataSource;
  let receiver: TestReceiver;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    ensureWorkerBuilt();
    const redis = new IORedis(REDIS_DB_URL);
    await redis.flushdb();
    redis.disconnect();
    receiver = await new TestReceiver().start();
    api = await startApi();
    db = api.app.get(DataSource);
    await quietDatabase(db);
  }, BUILD_TIMEOUT_MS);

  afterEach(async () => {
    for (const w of workers.splice(0)) {
      if (w.exitCode === null && w.signalCode === null) {
        w.kill('SIGTERM');
        await new Promise((resolve) => w.once('exit', resolve));
      }
    }
  });

  afterAll(async () => {
    await api.close();
    await receiver.close();
    const redis = new IORedis(REDIS_DB_URL);
    await redis.flushdb();
    redis.disconnect();
  });

  function startWorker(): ChildProcess {
    const { child } = spawnWorker(WORKER_ENV());
    workers.push(child);
    return child;
  }

  /** A tenant with WEBHOOKS webhooks on `path`, and EVENTS events published to them; returns the org. */
  async function burst(label: string, path: string): Promise<string> {
    const org = uniqueOrg(label);
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_webhooks', 'publish_events'] });
    for (let i = 0; i < WEBHOOKS; i++) {
      await api
        .http()
        .post('/ipm/webhook/create')
        .set(bearer(jwt))
        .set('x-orgcode', org)
        .send({ endpoint_url: receiver.url(`${path}/${i}`), event_filters: [{ service: 'rfp' }] })
        .expect(200);
    }
    for (let i = 0; i < EVENTS; i += 25) {
      const events = Array.from({ length: 25 }, (_, j) => ({
        event_type: 'rfp.created',
        payload: { rfp_id: `R-${i + j}`, title: 't', buyer: { org_id: 'O', name: 'N' }, status: 'open' },
      }));
      await api.http().post('/ipm/event/publish').set(bearer(jwt)).set('x-orgcode', org).send({ events }).expect(200);
    }
    return org;
  }

  /** Waits until every delivery of the tenant succeeded; returns their ids. */
  async function allDelivered(org: string, timeoutMs: number): Promise<Set<string>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await db.query<Array<{ delivery_id: string; status: string }>>(
        'SELECT delivery_id, status FROM deliveries WHERE orgcode = $1',
        [org],
      );
      if (rows.length === EVENTS * WEBHOOKS && rows.every((r) => r.status === 'success')) {
        return new Set(rows.map((r) => r.delivery_id));
      }
      if (Date.now() > deadline) {
        const byStatus = rows.reduce<Record<string, number>>(
          (acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }),
          {},
        );
        throw new Error(`not all delivered: ${rows.length} rows, ${JSON.stringify(byStatus)}`);
      }
      await sleep(100);
    }
  }

  /** Every delivery reached the receiver; duplicates only repeat an id already seen. */
  function countAtReceiver(path: string, ids: Set<string>): { received: number; unique: number; duplicates: number } {
    const got = receiver.received.filter((r) => r.path.startsWith(`${path}/`));
    const seen = new Set(got.map((r) => String(r.headers['webhook-id'])));
    expect([...ids].filter((id) => !seen.has(id))).toEqual([]); // none missing
    expect([...seen].filter((id) => !ids.has(id))).toEqual([]); // nothing unknown
    return { received: got.length, unique: seen.size, duplicates: got.length - seen.size };
  }

  it('a worker SIGKILLed mid-burst loses nothing: another worker finishes, duplicates only of in-flight attempts', async () => {
    receiver.on('/kill/0', { delayMs: 20 }).on('/kill/1', { delayMs: 20 });
    receiver.on('/kill/2', { delayMs: 20 }).on('/kill/3', { delayMs: 20 });
    const first = startWorker();
    const org = await burst('kill', '/kill');
    await receiver.waitFor(40, undefined, 20_000);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const atKill = receiver.received.filter((r) => r.path.startsWith('/kill/')).length;
    expect(atKill).toBeLessThan(EVENTS * WEBHOOKS); // it really died mid-burst

    startWorker();
    const ids = await allDelivered(org, 60_000);
    const counts = countAtReceiver('/kill', ids);
    expect(counts.unique).toBe(EVENTS * WEBHOOKS);
    // Only attempts in flight when it died arrive twice: each was claimed again (attempt_count > 1),
    // and there are at most DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT (16) per webhook.
    const [{ reclaimed }] = await db.query<Array<{ reclaimed: number }>>(
      `SELECT COALESCE(sum(attempt_count - 1), 0)::int AS reclaimed FROM deliveries WHERE orgcode = $1`,
      [org],
    );
    expect(counts.duplicates).toBeLessThanOrEqual(reclaimed);
    expect(reclaimed).toBeLessThanOrEqual(WEBHOOKS * 16);
    const [{ stuck }] = await db.query<Array<{ stuck: number }>>(
      `SELECT count(*)::int AS stuck FROM deliveries WHERE orgcode = $1 AND status = 'in_flight'`,
      [org],
    );
    expect(stuck).toBe(0);
  }, 90_000);

  it('Redis flushed mid-burst loses nothing: the sweeper re-enqueues what PostgreSQL says is due', async () => {
    for (let i = 0; i < WEBHOOKS; i++) receiver.on(`/flush/${i}`, { delayMs: 30 });
    startWorker();
    const org = await burst('flush', '/flush');
    await receiver.waitFor(30, undefined, 20_000);
    const redis = new IORedis(REDIS_DB_URL);
    await redis.flushdb();
    redis.disconnect();
    const atFlush = receiver.received.filter((r) => r.path.startsWith('/flush/')).length;
    expect(atFlush).toBeLessThan(EVENTS * WEBHOOKS);

    const ids = await allDelivered(org, 60_000);
    const counts = countAtReceiver('/flush', ids);
    expect(counts.unique).toBe(EVENTS * WEBHOOKS);
  }, 90_000);
});
