import autocannon from 'autocannon';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { API_MAIN, benchEnv, freePort, runCli, Server } from './processes';
import { Figure, fmt, line, section, verdict } from './report';

export interface WebhooksBenchOptions {
  duration: number;
}

/** Issue 4: "list stays fast with 100,000 webhooks across tenants (keyset, indexed)". */
const TENANTS = 100;
const PER_TENANT = 1_000;
/**
 * Limits: a page is one indexed keyset read, like /apikey/list (800 req/s with a JWT on this
 * machine, bench (b)); it must stay in that class with 100,000 rows in the table, at any depth.
 * 50-row pages serialise six times the JSON, hence their lower floor. Latency is measured with
 * 10 connections, so that p99 shows the request, not a queue of 50.
 */
const LIST_MIN_RPS = 600;
const LIST_50_MIN_RPS = 300;
const LIST_MAX_P99_MS = 100;
const CONNECTIONS = 10;
const DATABASE = 'ipm_bench_webhooks';
const QUEUE_PREFIX = 'ipm-bench-webhooks';
const ORG = 't0';

/** 100,000 webhooks, 1,000 in each of 100 tenants, in one statement (ids sort like ULIDs). */
async function seed(databaseUrl: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO webhooks (webhook_id, orgcode, app_id, name, description, endpoint_url, status, event_filters,
         headers, retry_policy, signing_algorithm, secret_sealed, secret_key_id, secret_last4, secret_fingerprint,
         tags, created_at, created_by, updated_at, updated_by, revision)
       SELECT 'whk_' || lpad(upper(to_hex(i)), 26, '0'), 't' || (i % $1), NULL, 'hook ' || md5(i::text), NULL,
              'https://hooks.example.com/in/' || i, CASE WHEN (i / $1) % 10 = 0 THEN 'paused' ELSE 'active' END,
              '[{"service":"rfp"}]'::jsonb, '{}'::jsonb,
              '{"max_attempts":8,"backoff":"exponential","timeout_ms":15000}'::jsonb, 'hmac-sha256',
              'v1.sealed.not.a.real.secret', 'k1', 'abcd', md5(i::text)::char(16), ARRAY['bench', 'tag' || (i % 7)],
              now() - make_interval(secs => $2 - i), 'bench', now(), 'bench', 1
       FROM generate_series(1, $2) AS i`,
      [TENANTS, TENANTS * PER_TENANT],
    );
    await client.query('ANALYZE webhooks');
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM webhooks');
    return rows[0].n;
  } finally {
    await client.end();
  }
}

async function listOnce(
  baseUrl: string,
  headers: Record<string, string>,
  body: object,
): Promise<{ next_token?: string }> {
  const res = await fetch(`${baseUrl}/ipm/webhook/list`, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = (await res.json()) as { data?: { items?: unknown[]; next_token?: string } };
  if (res.status !== 200 || !json.data?.items?.length) throw new Error(`webhook/list failed: ${JSON.stringify(json)}`);
  return json.data;
}

export async function runWebhooksBenchmark(options: WebhooksBenchOptions): Promise<Figure[]> {
  const port = await freePort();
  const env = benchEnv(DATABASE, QUEUE_PREFIX, port);
  const databaseUrl = env.DATABASE_URL as string;
  await dropDatabase(databaseUrl);
  runCli(['migrate'], env);
  const rows = await seed(databaseUrl);
  const jwt = runCli(['token', '--org', ORG, '--permissions', 'manage_webhooks', '--sub', 'bench'], env);
  const headers = { authorization: `Bearer ${jwt}`, 'x-orgcode': ORG, 'content-type': 'application/json' };

  const api = await Server.start('api-webhooks', [API_MAIN], env, port, '/ipm/stat');
  const runs: Array<{ label: string; result: autocannon.Result }> = [];
  try {
    // A deep page: the token after 10 pages of 50 by name, so that the keyset (not OFFSET) is what is timed.
    let token: string | undefined;
    for (let i = 0; i < 10; i++) {
      token = (
        await listOnce(api.baseUrl, headers, { limit: 50, order_by: 'name', ...(token ? { next_token: token } : {}) })
      ).next_token;
    }
    const bodies: Array<[string, object]> = [
      ['newest, default page (8)', {}],
      ['by name, page 11 of 50', { limit: 50, order_by: 'name', next_token: token }],
      ['status+tag filter (8)', { status: 'active', tag: 'tag3' }],
    ];
    for (const [label, body] of bodies) {
      const load: autocannon.Options = {
        url: `${api.baseUrl}/ipm/webhook/list`,
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        connections: CONNECTIONS,
      };
      await autocannon({ ...load, duration: 1 });
      runs.push({ label, result: await autocannon({ ...load, duration: options.duration }) });
    }
  } finally {
    await api.stop();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(loadConfig(env).REDIS_URL, QUEUE_PREFIX);
  }

  const figures: Figure[] = runs.flatMap(({ label, result }) => [
    {
      name: `webhook/list ${label}`,
      value: result.requests.average,
      unit: 'req/s',
      bound: 'min',
      target: label.includes('of 50') ? LIST_50_MIN_RPS : LIST_MIN_RPS,
    },
    { name: `webhook/list ${label} p99`, value: result.latency.p99, unit: 'ms', bound: 'max', target: LIST_MAX_P99_MS },
    {
      name: `webhook/list ${label} failed`,
      value: result.non2xx + result.errors + result.timeouts,
      unit: 'responses',
      bound: 'max',
      target: 0,
    },
  ]);
  section(
    `(w) POST /ipm/webhook/list with ${fmt(rows)} webhooks in ${TENANTS} tenants, ${CONNECTIONS} connections, ${options.duration} s each`,
    [
      ...runs.map(
        ({ label, result }) =>
          `${label}: ${fmt(result.requests.average)} req/s, p50 ${fmt(result.latency.p50, 1)} ms, p99 ${fmt(result.latency.p99, 1)} ms`,
      ),
      `limits: >= ${fmt(LIST_MIN_RPS)} req/s (8-row pages), >= ${fmt(LIST_50_MIN_RPS)} (50-row pages), p99 <= ${LIST_MAX_P99_MS} ms: one indexed keyset read per page`,
    ],
  );
  for (const f of figures) line(verdict(f));
  return figures;
}
