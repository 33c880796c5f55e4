// `npm run bench -- scale`: how read latency grows with data (issue 8, point 3). The built api runs as a child process
// against its own database and queue prefix. Phases, in this order:
//   (1) EMPTY: one tenant with a few webhooks (made through /webhook/create) and a handful of deliveries and events
//       (seeded straight into PostgreSQL) -> p50/p95 over ITERATIONS sequential requests (after a warm-up) of
//       /webhook/delivery/list first page, the page at depth 100 (its token found by following next_token),
//       /cdc/list first page and /webhook/stats;
//   (2) GROW: `deliveries` and `events` rows for that tenant plus OTHER_TENANTS tenants' data beside it, each in one
//       INSERT ... SELECT generate_series (ids that sort like ULIDs, timestamps spread over 30 days), then
//       VACUUM (ANALYZE) of the seeded tables: the steady state autovacuum leaves a table in after a large insert
//       (PostgreSQL 13+ vacuums on inserts; the visibility map lets index-only scans skip the heap); the empty phase
//       does the same, for symmetry. The same four measured again.
// Figures: each route's grown p95, target 2 x its empty p95 (at least 1 ms). The table and EXPLAIN (ANALYZE, BUFFERS)
// summaries of each route's main statement (as the repositories write it) are printed.
//   (3) FAN-OUT (bench/scale-fanout.ts): api + worker in another database; one event to 10, 100 and 1,000 matching
//       webhooks -> ms until all its deliveries exist, and per webhook; figure: the per-webhook cost at 1,000 must be
//       at most that at 10 (linear or better).
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { STATS_HOURS_SQL, STATS_LIVE_SQL, statsLiveParams, StoredHourRow, toHourRow } from '@ipm/webhooks';
import { planStats, rollableHours } from '@ipm/webhooks';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { FanoutResult, runFanout } from './scale-fanout';
import { API_MAIN, benchEnv, freePort, runCli, Server } from './processes';
import { Figure, fmt, line, percentile, section, verdict } from './report';

export interface ScaleBenchOptions {
  /** Deliveries of the measured tenant once grown (the issue asks for 1,000,000). */
  deliveries: number;
  /** Events of the measured tenant once grown (the issue asks for 100,000). */
  events: number;
}

const DATABASE = 'ipm_bench_scale';
const QUEUE_PREFIX = 'ipm-bench-scale';
const ORG = 'scalebench';
const SUB = 'bench';
const PERMISSIONS = 'manage_webhooks,publish_events';
const PUBLIC_URL = 'https://93.184.215.14/hooks/ipm';
const WEBHOOKS = 5;
const EMPTY_DELIVERIES = 200;
const EMPTY_EVENTS = 100;
const OTHER_TENANTS = 50;
const OTHER_DELIVERIES = 10_000;
const OTHER_EVENTS = 2_000;
const ITERATIONS = 300;
const WARMUP = 100;
const PAGE = 50;
const DEPTH = 100;
const MAX_RATIO = 2;
const FLOOR_MS = 1;
const DAYS = 30;
/** After seeding: what autovacuum would leave (statistics, visibility map), without waiting for it. */
const VACUUM_SEEDED = 'VACUUM (ANALYZE) deliveries, delivery_attempts, events';

interface Latency {
  p50: number;
  p95: number;
}

type RouteName = 'delivery/list page 1' | 'delivery/list page 100' | 'cdc/list page 1' | 'webhook/stats';
const ROUTE_NAMES: RouteName[] = ['delivery/list page 1', 'delivery/list page 100', 'cdc/list page 1', 'webhook/stats'];

// ---------------------------------------------------------------------------------------------------------------
// Seeding, one statement per table and tenant.

/**
 * `n` deliveries of `org` over `webhookIds`, created over the last 30 days (oldest first), ids `dlv_` + 26 characters
 * that sort by creation time: 12 hex digits of epoch ms, a 4-character tenant tag, 10 hex digits of the row number.
 */
async function seedDeliveries(db: Client, org: string, tag: string, webhookIds: string[], n: number): Promise<void> {
  await db.query(
    `INSERT INTO deliveries (delivery_id, orgcode, app_id, webhook_id, event_seq, event_id, event_type, payload, status,
       origin, attempt_count, next_attempt_at, last_attempt_at, last_status_code, last_duration_ms, created_at,
       updated_at, finished_at)
     SELECT 'dlv_' || lpad(upper(to_hex(ms)), 12, '0') || $2 || lpad(upper(to_hex(i)), 10, '0'), $1, NULL,
            ($3::text[])[1 + i % cardinality($3::text[])], NULL,
            'evt_' || lpad(upper(to_hex(ms)), 12, '0') || $2 || lpad(upper(to_hex(i / 4)), 10, '0'),
            CASE WHEN i % 4 = 3 THEN 'rfp.status_changed' ELSE 'rfp.created' END, NULL, st,
            'event', CASE WHEN st = 'pending' THEN 0 WHEN st IN ('failed', 'dead_letter') THEN 5 ELSE 1 END,
            CASE WHEN st IN ('pending', 'retrying') THEN at + interval '1 minute' END,
            CASE WHEN st <> 'pending' THEN at END,
            CASE WHEN st = 'success' THEN 200 WHEN st <> 'pending' THEN 503 END,
            CASE WHEN st <> 'pending' THEN 20 + i % 180 END,
            at, at, CASE WHEN st IN ('success', 'failed', 'dead_letter') THEN at END
     FROM (SELECT i, at, (extract(epoch FROM at) * 1000)::bigint AS ms,
                  CASE WHEN i % 100 < 90 THEN 'success' WHEN i % 100 < 95 THEN 'failed'
                       WHEN i % 100 < 97 THEN 'dead_letter' WHEN i % 100 < 99 THEN 'retrying'
                       ELSE 'pending' END AS st
           FROM (SELECT i, now() - make_interval(secs => ($4::float8 - i) * $5::float8 / $4::float8) AS at
                 FROM generate_series(0, $4::int - 1) AS i) g) s`,
    [org, tag, webhookIds, n, DAYS * 86_400],
  );
}

/**
 * One attempt per non-pending delivery of `webhookId` seeded with `tag` (started when the delivery was created,
 * lasting its last_duration_ms), so that the stats latencies (delivery_attempts percentiles) are measured too.
 */
async function seedAttempts(db: Client, tag: string, webhookId: string): Promise<void> {
  await db.query(
    `INSERT INTO delivery_attempts (delivery_id, orgcode, webhook_id, attempt_no, started_at, duration_ms, status_code,
       response_headers, response_excerpt, outcome)
     SELECT delivery_id, orgcode, webhook_id, 1, created_at, last_duration_ms, last_status_code, '{}', '', status
     FROM deliveries WHERE webhook_id = $1 AND status <> 'pending' AND substr(delivery_id, 17, 4) = $2`,
    [webhookId, tag],
  );
}

/** `n` events of `org` received over the last 30 days, ids `evt_` + 26 characters, tx_id rising with time. */
async function seedEvents(db: Client, org: string, tag: string, n: number): Promise<void> {
  await db.query(
    `INSERT INTO events (tx_id, event_id, orgcode, app_id, event_type, service, action, payload, logical_guid,
       channel_code, source, actor, occurred_at, received_at)
     SELECT 1 + i / 4, 'evt_' || lpad(upper(to_hex((extract(epoch FROM at) * 1000)::bigint)), 12, '0') || $2
              || lpad(upper(to_hex(i)), 10, '0'),
            $1, NULL, CASE WHEN i % 4 = 3 THEN 'rfp.status_changed' ELSE 'rfp.created' END, 'rfp',
            CASE WHEN i % 4 = 3 THEN 'status_changed' ELSE 'created' END,
            jsonb_build_object('rfp_id', 'RFP-' || i, 'title', 'Fleet telematics, 400 vehicles', 'status', 'open'),
            'RFP-' || i, NULL, 'api', $4, at, at
     FROM (SELECT i, now() - make_interval(secs => ($3::float8 - i) * $5::float8 / $3::float8) AS at
           FROM generate_series(0, $3::int - 1) AS i) g`,
    [org, tag, n, SUB, DAYS * 86_400],
  );
}

/** A 4-character tenant tag for ids (hex, so that ids stay in the ULID alphabet). */
const tagOf = (k: number): string => k.toString(16).toUpperCase().padStart(4, '0');

// ---------------------------------------------------------------------------------------------------------------
// Requests.

interface Api {
  baseUrl: string;
  headers: Record<string, string>;
}

async function post<T>(api: Api, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${api.baseUrl}/ipm${path}`, {
    method: 'POST',
    headers: api.headers,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) throw new Error(`${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { data: T }).data;
}

interface ListPage {
  items: unknown[];
  next_token?: string | null;
}

/** The next_token after `DEPTH - 1` pages of `pageSize` (the token that fetches page DEPTH). */
async function tokenAtDepth(api: Api, pageSize: number): Promise<string> {
  let token: string | undefined;
  for (let p = 1; p < DEPTH; p++) {
    const page: ListPage = await post<ListPage>(api, '/webhook/delivery/list', {
      limit: pageSize,
      ...(token ? { next_token: token } : {}),
    });
    if (!page.next_token) throw new Error(`delivery/list ran out of pages at page ${p} (page size ${pageSize})`);
    token = page.next_token;
  }
  return token as string;
}

async function measure(fn: () => Promise<unknown>): Promise<Latency> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const started = performance.now();
    await fn();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p95: percentile(ms, 95) };
}

async function measureRoutes(api: Api, webhookId: string, depthToken: string): Promise<Record<RouteName, Latency>> {
  return {
    'delivery/list page 1': await measure(() => post(api, '/webhook/delivery/list', { limit: PAGE })),
    'delivery/list page 100': await measure(() =>
      post(api, '/webhook/delivery/list', { limit: PAGE, next_token: depthToken }),
    ),
    'cdc/list page 1': await measure(() => post(api, '/cdc/list', { limit: PAGE })),
    'webhook/stats': await measure(() => post(api, '/webhook/stats', { webhook_id: webhookId })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// EXPLAIN of each route's main statement (as libs/webhooks/src/deliveries/delivery.repository.ts and
// libs/events/src/cdc.service.ts build them).

interface Plan {
  /** Execution time (ms). */
  ms: number;
  /** The root node, the slowest node by its own actual time, and the buffers line. */
  summary: string;
  /** The whole EXPLAIN output. */
  lines: string[];
}

async function explain(db: Client, sql: string, params: unknown[]): Promise<Plan> {
  const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
  const lines = rows.map((r) => r['QUERY PLAN']);
  const exec = lines.find((l) => l.startsWith('Execution Time'));
  const ms = exec ? Number(/([\d.]+) ms/.exec(exec)?.[1] ?? 0) : 0;
  // The node with the largest total actual time below the root says where the time went.
  const nodes = lines
    .map((l) => ({ l: l.trim().replace(/^->\s*/, ''), t: Number(/actual time=[\d.]+\.\.([\d.]+)/.exec(l)?.[1] ?? -1) }))
    .filter((n) => n.t >= 0);
  const root = nodes[0]?.l ?? lines[0];
  const inner = nodes.slice(1).sort((a, b) => b.t - a.t)[0];
  const scans = nodes.filter((n) => / Scan /.test(` ${n.l}`)).map((n) => n.l.replace(/\s+\(cost=.*?\)/, ''));
  const rowsRemoved = lines.filter((l) => /Rows Removed|Heap Fetches|Sort Method/.test(l)).map((l) => l.trim());
  const buffers = lines.find((l) => l.trim().startsWith('Buffers'))?.trim() ?? '';
  return {
    ms,
    summary:
      `${fmt(ms, 2)} ms; ${root.slice(0, 110)}${inner ? ` | heaviest child: ${inner.l.slice(0, 110)}` : ''}` +
      `${scans.length ? ` | scans: ${scans.join('; ').slice(0, 200)}` : ''}` +
      `${rowsRemoved.length ? ` | ${rowsRemoved.join('; ').slice(0, 120)}` : ''}${buffers ? ` | ${buffers}` : ''}`,
    lines,
  };
}

type PlanName = RouteName | 'webhook/stats hours';
const PLAN_NAMES: PlanName[] = [...ROUTE_NAMES, 'webhook/stats hours'];

async function explainRoutes(db: Client, webhookId: string): Promise<Record<PlanName, Plan>> {
  const list = 'SELECT d.* FROM deliveries d WHERE d.orgcode = $1';
  const { rows } = await db.query<{ delivery_id: string }>(`${list} ORDER BY d.delivery_id DESC OFFSET $2 LIMIT 1`, [
    ORG,
    (DEPTH - 1) * PAGE - 1,
  ]);
  const cursor = rows[0]?.delivery_id ?? 'dlv_';
  return {
    'delivery/list page 1': await explain(db, `${list} ORDER BY d.delivery_id DESC LIMIT $2`, [ORG, PAGE + 1]),
    'delivery/list page 100': await explain(db, `${list} AND d.delivery_id < $2 ORDER BY d.delivery_id DESC LIMIT $3`, [
      ORG,
      cursor,
      PAGE + 1,
    ]),
    'cdc/list page 1': await explain(
      db,
      `SELECT e.* FROM events e WHERE e.orgcode = $1
         AND e.tx_id < CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)
       ORDER BY e.tx_id ASC, e.seq ASC LIMIT $2`,
      [ORG, PAGE + 1],
    ),
    // The repository's second statement, with what the rows there now make of it: live ranges (deliveries and
    // attempts), rows to fill, unsettled deliveries of rolled-up hours.
    'webhook/stats': await explainStats(db, webhookId),
    // Its first: the rolled-up hours (~170 rows by primary key) with their duration histograms.
    'webhook/stats hours': await explain(db, STATS_HOURS_SQL, [ORG, webhookId, ...hoursRange()]),
  };
}

function hoursRange(now = new Date()): [Date, Date] {
  const { from, to } = rollableHours(now);
  return [from, to];
}

async function explainStats(db: Client, webhookId: string): Promise<Plan> {
  const now = new Date();
  const { rows } = await db.query<StoredHourRow>(STATS_HOURS_SQL, [ORG, webhookId, ...hoursRange(now)]);
  const plan = planStats(now, rows.map(toHourRow));
  const explained = await explain(db, STATS_LIVE_SQL, statsLiveParams(ORG, webhookId, plan));
  const shape = `${plan.rolled.length} rolled-up hours, ${plan.ranges.length} live ranges, ${plan.fill.length} to fill`;
  return { ...explained, summary: `[${shape}] ${explained.summary}` };
}

// ---------------------------------------------------------------------------------------------------------------

export async function runScaleBenchmark(options: ScaleBenchOptions): Promise<Figure[]> {
  const port = await freePort();
  const env = benchEnv(DATABASE, QUEUE_PREFIX, port);
  const databaseUrl = env.DATABASE_URL as string;
  await dropDatabase(databaseUrl);
  runCli(['migrate'], env);
  const token = runCli(['token', '--org', ORG, '--permissions', PERMISSIONS, '--sub', SUB], env);
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  let server: Server | undefined;
  let empty: Record<RouteName, Latency>;
  let grown: Record<RouteName, Latency>;
  let emptyPlans: Record<PlanName, Plan>;
  let grownPlans: Record<PlanName, Plan>;
  let seedSeconds: number;
  let counts: { deliveries: number; events: number; all_deliveries: number; all_events: number };
  try {
    server = await Server.start('api-scale', [API_MAIN], env, port, '/ipm/stat');
    const api: Api = {
      baseUrl: server.baseUrl,
      headers: { authorization: `Bearer ${token}`, 'x-orgcode': ORG, 'content-type': 'application/json' },
    };
    const webhookIds: string[] = [];
    for (let i = 0; i < WEBHOOKS; i++) {
      const data = await post<{ webhook_id?: string; webhook?: { webhook_id: string } }>(api, '/webhook/create', {
        endpoint_url: PUBLIC_URL,
        name: `scale hook ${i}`,
        event_filters: [{ service: 'rfp' }],
        tags: [`team${i}`],
      });
      const id = data.webhook_id ?? data.webhook?.webhook_id;
      if (!id) throw new Error(`/webhook/create returned no webhook_id: ${JSON.stringify(data)}`);
      webhookIds.push(id);
    }
    const statsWebhook = webhookIds[0];

    // (1) EMPTY: a handful of rows.
    await seedDeliveries(db, ORG, tagOf(0), webhookIds, EMPTY_DELIVERIES);
    await seedAttempts(db, tagOf(0), statsWebhook);
    await seedEvents(db, ORG, tagOf(0), EMPTY_EVENTS);
    await db.query(VACUUM_SEEDED);
    // With a handful of rows there is no page 100 of 50: its token is found with pages of 1 (depth 99 rows).
    const emptyToken = await tokenAtDepth(api, 1);
    // A first pass only warms the api up (JIT, pools, plan caches): the grown pass runs on a warm api too.
    await measureRoutes(api, statsWebhook, emptyToken);
    empty = await measureRoutes(api, statsWebhook, emptyToken);
    emptyPlans = await explainRoutes(db, statsWebhook);

    // (2) GROW: the tenant's rows, and other tenants' beside them.
    const seedStarted = performance.now();
    await seedDeliveries(db, ORG, tagOf(1), webhookIds, options.deliveries);
    await seedAttempts(db, tagOf(1), statsWebhook);
    await seedEvents(db, ORG, tagOf(1), options.events);
    const otherHooks = Array.from({ length: WEBHOOKS }, (_, i) => `whk_OTHER${String(i).padStart(21, '0')}`);
    for (let k = 0; k < OTHER_TENANTS; k++) {
      await seedDeliveries(db, `scaleother${k}`, tagOf(2 + k), otherHooks, OTHER_DELIVERIES);
      await seedEvents(db, `scaleother${k}`, tagOf(2 + k), OTHER_EVENTS);
    }
    await db.query(VACUUM_SEEDED);
    seedSeconds = (performance.now() - seedStarted) / 1000;
    const { rows } = await db.query<typeof counts>(
      `SELECT (SELECT count(*) FROM deliveries WHERE orgcode = $1)::int AS deliveries,
              (SELECT count(*) FROM events WHERE orgcode = $1)::int AS events,
              (SELECT count(*) FROM deliveries)::int AS all_deliveries,
              (SELECT count(*) FROM events)::int AS all_events`,
      [ORG],
    );
    counts = rows[0];
    grown = await measureRoutes(api, statsWebhook, await tokenAtDepth(api, PAGE));
    grownPlans = await explainRoutes(db, statsWebhook);
  } finally {
    await db.end();
    await server?.stop();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(loadConfig(env).REDIS_URL, QUEUE_PREFIX);
  }

  const fanout: FanoutResult[] = await runFanout();
  const figures: Figure[] = ROUTE_NAMES.map((r) => ({
    name: `scale: ${r} grown p95`,
    value: grown[r].p95,
    unit: 'ms',
    bound: 'max',
    target: MAX_RATIO * Math.max(FLOOR_MS, empty[r].p95),
    raw: empty[r].p95,
  }));

  const small = fanout[0];
  const big = fanout[fanout.length - 1];
  figures.push({
    name: `scale: fan-out per webhook at ${fmt(big.webhooks)}`,
    value: big.perWebhookMs,
    unit: 'ms',
    bound: 'max',
    target: small.perWebhookMs,
    raw: small.perWebhookMs,
  });

  section('scale figures (JSON, one per line)');
  for (const f of figures) {
    const round = (n: number): number => Math.round(n * 1000) / 1000;
    process.stdout.write(
      `${JSON.stringify({ bench: 'scale', name: f.name, value: round(f.value), unit: f.unit, limit: round(f.raw ?? 0), ratio: round(f.value / Math.max(0.001, f.raw ?? 0)), target: round(f.target), higher_is_better: false, pass: f.value <= f.target })}\n`,
    );
  }
  const col = (s: string, w: number): string => s.padStart(w);
  const table = [
    `${'route'.padEnd(24)}${col('empty p50', 11)}${col('empty p95', 11)}${col('grown p50', 11)}${col('grown p95', 11)}${col('ratio p95', 11)}`,
    ...ROUTE_NAMES.map(
      (r) =>
        `${r.padEnd(24)}${col(fmt(empty[r].p50, 2), 11)}${col(fmt(empty[r].p95, 2), 11)}` +
        `${col(fmt(grown[r].p50, 2), 11)}${col(fmt(grown[r].p95, 2), 11)}` +
        `${col(`${fmt(grown[r].p95 / Math.max(0.001, empty[r].p95), 2)}x`, 11)}`,
    ),
  ];
  section('(scale) read latency, empty vs grown (ms, sequential requests)', [
    `empty: ${WEBHOOKS} webhooks, ${EMPTY_DELIVERIES} deliveries, ${EMPTY_EVENTS} events; grown: the tenant ` +
      `${fmt(counts.deliveries)} deliveries and ${fmt(counts.events)} events, ${OTHER_TENANTS} other tenants beside ` +
      `it (${fmt(counts.all_deliveries)} deliveries, ${fmt(counts.all_events)} events in all), seeded and vacuumed (analysed) ` +
      `in ${fmt(seedSeconds, 1)} s`,
    `${ITERATIONS} sequential requests per route after ${WARMUP} warm-up; pages of ${PAGE}; page 100 = after ` +
      `following next_token ${DEPTH - 1} times`,
    ...table,
    'EXPLAIN (ANALYZE, BUFFERS) of each main statement, empty -> grown:',
    ...PLAN_NAMES.flatMap((r) => [
      `  ${r}:`,
      `    empty: ${emptyPlans[r].summary}`,
      `    grown: ${grownPlans[r].summary}`,
    ]),
    'EXPLAIN (ANALYZE, BUFFERS) of the webhook/stats live statement (counts and latencies), grown, in full:',
    ...grownPlans['webhook/stats'].lines.map((l) => `  ${l}`),
    `target: grown p95 <= ${MAX_RATIO} x empty p95 (empty p95 floored at ${FLOOR_MS} ms)`,
  ]);
  section('(scale) fan-out: one event to N matching webhooks (median of 3; publish -> all deliveries stored)', [
    ...fanout.map(
      (f) =>
        `${fmt(f.webhooks).padStart(6)} webhooks: ${fmt(f.ms, 1).padStart(8)} ms, ${fmt(f.perWebhookMs, 3)} ms per ` +
        `webhook (received_at -> last delivery created_at as stored: ${fmt(f.storedMs, 1)} ms)`,
    ),
    `target: per-webhook cost at ${fmt(big.webhooks)} <= at ${fmt(small.webhooks)} (linear or better)`,
  ]);
  for (const f of figures) line(verdict(f));
  return figures;
}
