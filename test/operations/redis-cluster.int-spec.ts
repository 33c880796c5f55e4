import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'pg';
import { loadConfig } from '@ipm/core';
import { call, mintJwt } from '../chaos/http-client';
import { publishBody } from '../chaos/ledger';
import { BuiltApi } from '../support/built-api';
import { BUILD_TIMEOUT_MS, ensureBuilt, exitOf, freePort, spawnWorker } from '../support/built-worker';
import { TestReceiver } from '../support/receiver';
import { RedisCluster } from '../support/redis-cluster';

const EVENTS = 60;
const WEBHOOKS = 2;

/**
 * Past one machine: the built api and two built workers on a 3-master Redis Cluster of the test's own
 * (REDIS_CLUSTER_NODES), with the run's PostgreSQL database. A burst of events is delivered in full, and the
 * keys show why it works: every BullMQ key under one hash tag (one slot), the rate-limit buckets under the
 * tenant's.
 */
describe('Redis Cluster (REDIS_CLUSTER_NODES): api and two workers on 3 masters', () => {
  let cluster: RedisCluster | undefined;
  let api: BuiltApi | undefined;
  const workers: ReturnType<typeof spawnWorker>[] = [];
  const receiver = new TestReceiver();
  const db = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  const prefix = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}-cluster`;

  beforeAll(async () => {
    ensureBuilt(['api', 'worker']);
    [cluster] = await Promise.all([RedisCluster.start(3), receiver.start()]);
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all(
      workers.map(async ({ child }) => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exitOf(child);
      }),
    );
    await api?.kill();
    await cluster?.destroy();
    await receiver.close();
    await db.end();
  });

  it('delivers a burst in full, every queue key on one slot', async () => {
    const nodes = cluster!.nodes;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Only the credentials (none here) come from REDIS_URL on a cluster: a node that is no seed proves it.
      REDIS_URL: `redis://127.0.0.1:${cluster!.ports[2]}`,
      REDIS_CLUSTER_NODES: nodes.split(',').slice(0, 2).join(','),
      QUEUE_PREFIX: prefix,
      WEBHOOK_TARGET_ALLOWLIST: '127.0.0.1/32',
      RELAY_POLL_MS: '50',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'text',
      NO_COLOR: '1',
    };
    const ports = [await freePort(), await freePort()];
    workers.push(...ports.map((port) => spawnWorker({ ...env, WORKER_PORT: String(port) })));
    api = await BuiltApi.start(env);
    for (const [i, port] of ports.entries()) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const ready = await call(`http://127.0.0.1:${port}/health/ready`, { timeoutMs: 1000 });
        if (ready.kind === 'response' && ready.status === 200) break;
        if (Date.now() > deadline) throw new Error(`worker ${i} not ready:\n${workers[i].output()}`);
        await sleep(100);
      }
    }

    const config = loadConfig(env);
    const org = `cluster-${Date.now().toString(36)}`;
    const jwt = mintJwt(config.JWT_SECRET, config.JWT_AUDIENCE, [org], ['manage_webhooks', 'publish_events']);
    const headers = { authorization: `Bearer ${jwt}`, 'x-orgcode': org };
    for (let i = 0; i < WEBHOOKS; i++) {
      const created = await call(`${api.url}/ipm/webhook/create`, {
        headers,
        body: { endpoint_url: receiver.url(`/${org}/${i}`), event_filters: [{ service: 'rfp' }] },
      });
      expect(created).toMatchObject({ kind: 'response', status: 200 });
    }
    const markers = Array.from({ length: EVENTS }, (_, i) => `${org}-e${i}`);
    const published = await Promise.all(
      [0, 1, 2].map((b) =>
        call(`${api!.url}/ipm/event/publish`, {
          headers,
          body: publishBody(markers.slice((b * EVENTS) / 3, ((b + 1) * EVENTS) / 3)),
        }),
      ),
    );
    for (const outcome of published) expect(outcome).toMatchObject({ kind: 'response', status: 200 });

    const got = await receiver.waitFor(EVENTS * WEBHOOKS, undefined, 25_000);
    const ids = new Set(got.map((r) => String(r.headers['webhook-id'])));
    expect(ids.size).toBe(EVENTS * WEBHOOKS);
    for (let i = 0; i < WEBHOOKS; i++) {
      const bodies = receiver.at(`/${org}/${i}`).map((r) => r.body);
      for (const marker of markers) expect(bodies.some((b) => b.includes(`"${marker}"`))).toBe(true);
    }
    // Every delivery row reached `success` (none left pending or in_flight).
    let statuses: { status: string; n: number }[];
    const deadline = Date.now() + 5000;
    do {
      ({ rows: statuses } = await db.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM deliveries WHERE orgcode = $1 GROUP BY status',
        [org],
      ));
      if (statuses.length === 1 && statuses[0].status === 'success') break;
      await sleep(100);
    } while (Date.now() < deadline);
    expect(statuses).toEqual([{ status: 'success', n: EVENTS * WEBHOOKS }]);

    // Every BullMQ key carries the hash tag `{<QUEUE_PREFIX>}`: one slot, on one master.
    const bull = await cluster!.keys(`{${prefix}}:*`);
    expect(bull.size).toBe(1);
    const [[bullPort, bullKeys]] = [...bull];
    expect(bullKeys.some((k) => k.startsWith(`{${prefix}}:delivery:`))).toBe(true);
    expect(await cluster!.countInSlot(bullPort, await cluster!.slotOf(`{${prefix}}`))).toBe(bullKeys.length);
    // The rate limiter ran its script on the cluster (the tenant's buckets share one tag): it never failed open.
    expect(api.output()).not.toContain('rate limits not applied');

    // Both workers shut down cleanly from the cluster.
    for (const { child } of workers) child.kill('SIGTERM');
    const exits = await Promise.all(workers.map(({ child }) => exitOf(child)));
    expect(exits).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
  }, 60_000);
});
