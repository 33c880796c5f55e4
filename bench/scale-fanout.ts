// The second half of issue 8, point 3: fan-out cost per event with 10, 100 and 1,000 matching webhooks. The built api
// and worker run against a database of their own; three tenants hold 10, 100 and 1,000 webhooks (rfp.*) pointing at a
// closed port of 127.0.0.1 (the allowlist lets the worker try; the attempts fail fast, which is not measured). One
// event per tenant is published REPEATS times; the time from sending it until all its deliveries are in PostgreSQL
// (publish, the relay's poll and its fan-out) is the fan-out time, divided by the webhooks for the per-webhook cost.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { API_MAIN, benchEnv, freePort, runCli, Server, WORKER_MAIN, WORKER_NODE_ARGS } from './processes';

export const FANOUT_SIZES = [10, 100, 1000];
const REPEATS = 3;
const DATABASE = 'ipm_bench_scale_fanout';
const QUEUE_PREFIX = 'ipm-bench-scale-fanout';
const WAIT_MS = 60_000;

export interface FanoutResult {
  webhooks: number;
  /** Median ms from sending /event/publish until all its deliveries were seen in PostgreSQL (polled every 10 ms). */
  ms: number;
  /** Median ms from the event's received_at to its last delivery's created_at (as stored; a batch may share one). */
  storedMs: number;
  /** ms / webhooks. */
  perWebhookMs: number;
}

async function post(baseUrl: string, path: string, headers: Record<string, string>, body: unknown): Promise<unknown> {
  const res = await fetch(`${baseUrl}/ipm${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) throw new Error(`${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

/** `fn(i)` for i in [0, n), `concurrency` at a time. */
async function inParallel(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, () => worker()));
}

export async function runFanout(): Promise<FanoutResult[]> {
  const apiPort = await freePort();
  const workerPort = await freePort();
  const closedPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...benchEnv(DATABASE, QUEUE_PREFIX, apiPort),
    WEBHOOK_TARGET_ALLOWLIST: '127.0.0.1/32',
    WEBHOOK_MAX_PER_TENANT: String(Math.max(...FANOUT_SIZES)),
    WORKER_PORT: String(workerPort),
  };
  const databaseUrl = env.DATABASE_URL as string;
  await dropDatabase(databaseUrl);
  runCli(['migrate'], env);
  const orgs = FANOUT_SIZES.map((n) => `scalefan${n}`);
  const jwt = runCli(['token', '--org', orgs.join(','), '--permissions', 'manage_webhooks,publish_events'], env);
  const headersOf = (org: string): Record<string, string> => ({
    authorization: `Bearer ${jwt}`,
    'x-orgcode': org,
    'content-type': 'application/json',
  });
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  let api: Server | undefined;
  let worker: Server | undefined;
  const results: FanoutResult[] = [];
  try {
    api = await Server.start('api-scale-fanout', [API_MAIN], env, apiPort, '/ipm/stat');
    const baseUrl = api.baseUrl;
    for (let k = 0; k < FANOUT_SIZES.length; k++) {
      await inParallel(FANOUT_SIZES[k], 8, (i) =>
        post(baseUrl, '/webhook/create', headersOf(orgs[k]), {
          endpoint_url: `http://127.0.0.1:${closedPort}/f/${i}`,
          name: `fan hook ${i}`,
          event_filters: [{ service: 'rfp' }],
        }),
      );
    }
    worker = await Server.start(
      'worker-scale-fanout',
      [...WORKER_NODE_ARGS, WORKER_MAIN],
      env,
      workerPort,
      '/health/ready',
    );
    /** Publishes one event to tenant k and waits for its deliveries; returns [wall ms, stored ms]. */
    const once = async (k: number, n: number): Promise<[number, number]> => {
      const rfp = `RFP-fan-${k}-${n}`;
      const sent = performance.now();
      await post(baseUrl, '/event/publish', headersOf(orgs[k]), {
        events: [
          {
            event_type: 'rfp.created',
            payload: {
              rfp_id: rfp,
              title: 'Fan-out',
              buyer: { org_id: 'ORG-17', name: 'Acme Logistics' },
              status: 'open',
            },
          },
        ],
      });
      const deadline = performance.now() + WAIT_MS;
      while (performance.now() < deadline) {
        const { rows } = await db.query<{ n: number; ms: number | null }>(
          `SELECT count(d.*)::int AS n,
                  extract(epoch FROM max(d.created_at) - e.received_at) * 1000 AS ms
           FROM events e LEFT JOIN deliveries d ON d.orgcode = e.orgcode AND d.event_id = e.event_id
           WHERE e.orgcode = $1 AND e.payload->>'rfp_id' = $2
           GROUP BY e.received_at`,
          [orgs[k], rfp],
        );
        if (rows[0] && rows[0].n >= FANOUT_SIZES[k]) return [performance.now() - sent, Number(rows[0].ms)];
        await sleep(10);
      }
      throw new Error(`fan-out to ${FANOUT_SIZES[k]} webhooks: deliveries not all created within ${WAIT_MS} ms`);
    };
    await once(0, -1); // warm-up
    for (let k = 0; k < FANOUT_SIZES.length; k++) {
      const runs: Array<[number, number]> = [];
      for (let r = 0; r < REPEATS; r++) runs.push(await once(k, r));
      const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const wall = median(runs.map((x) => x[0]));
      const stored = median(runs.map((x) => x[1]));
      results.push({ webhooks: FANOUT_SIZES[k], ms: wall, storedMs: stored, perWebhookMs: wall / FANOUT_SIZES[k] });
    }
  } finally {
    await db.end();
    await worker?.stop();
    await api?.stop();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(loadConfig(env).REDIS_URL, QUEUE_PREFIX);
  }
  return results;
}
