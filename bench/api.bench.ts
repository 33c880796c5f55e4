// `npm run bench -- api`: API latency per route tier under a steady open-loop load (issue 8, point 2). The built api
// runs as a child process against its own database and queue prefix. Phases, in this order:
//   (0) reference: a bare NestJS 12 route on Fastify (bench/baseline-app.ts), closed loop, its max req/s;
//   seeding: one tenant with 100 webhooks, 5 bulk jobs, a 1-year hourly KPI series and 2,000 events (published
//       through the api), and three other tenants with data of their own beside it;
//   (1) an open-loop mix of 500 requests/s in total (sent on schedule whatever the latency; a request's latency is
//       timed from its scheduled send), round robin over nine routes: Tier B reads /webhook/get, /webhook/list,
//       /bulk/job/get, /event/catalog/list; Tier C /cdc/list, /kpi/query; Tier D writes /webhook/create (a new
//       name each), /webhook/status/set (active <-> paused on a pool of webhooks, each with its expected_revision,
//       never two in flight on one webhook), /kpi/record (a new kpi_code / hourly bucket each) -> p50/p95/p99 and
//       non-2xx per route. Targets: Tier B/C p95 < 15 ms and p99 < 40 ms; Tier D p95 < 25 ms; 0 non-2xx;
//   (2) the max sustainable rate of /webhook/get (closed-loop autocannon) and its share of (0) (>= 35 %).
// Per measured phase, the CPU seconds of the api, this process and the database's backends say where the time went.
import autocannon from 'autocannon';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { summarizeCpuProfile } from './cpu-profile';
import { windowCpuProfile } from './cpu-profile-window';
import { PhaseMeter } from './phase-meter';
import { API_MAIN, benchEnv, freePort, runCli, Server, startBareRoute } from './processes';
import { Figure, fmt, JsonFigure, line, percentile, printJson, section, verdict } from './report';

export interface ApiBenchOptions {
  /** Seconds of the open-loop phase (the issue asks for 30). */
  seconds: number;
  /**
   * When set, the api runs with --cpu-prof and writes its profile here; the report then shows where its CPU went
   * in the open-loop mix and in /webhook/get's max-rate phase (BENCH_API_CPU_PROF).
   */
  cpuProfDir?: string;
}

/** Targets (issue 8, point 2). */
const RATE = 500;
const READ_P95_MS = 15;
const READ_P99_MS = 40;
const WRITE_P95_MS = 25;
const MIN_GET_SHARE_OF_BARE = 35;

const WARMUP_SECONDS = 3;
/** Closed-loop connections of the bare route and of /webhook/get's max rate. */
const CONNECTIONS = 50;
const MAX_RATE_SECONDS = 10;
const BARE_SECONDS = 5;
/** Open-loop sockets (keep-alive); at 500 req/s and a few ms a request only a handful are busy at once. */
const SOCKETS = 128;

/** A latency with no sample: it fails any target. */
const NO_SAMPLE = Number.POSITIVE_INFINITY;
const DATABASE = 'ipm_bench_api';
const QUEUE_PREFIX = 'ipm-bench-api';
const ORG = 'apibench';
const OTHER_ORGS = ['apiother1', 'apiother2', 'apiother3'];
const SUB = 'bench';
const PERMISSIONS = 'manage_webhooks,publish_events,manage_bulk_jobs,manage_kpis,view_kpis';
const PUBLIC_URL = 'https://93.184.215.14/hooks/ipm';

const WEBHOOKS = 100;
/** The last TOGGLE_POOL of the tenant's webhooks are the ones /webhook/status/set pauses and resumes. */
const TOGGLE_POOL = 50;
const OTHER_WEBHOOKS = 30;
const EVENTS = 2_000;
const OTHER_EVENTS = 500;
const PUBLISH_BATCH = 250;

/** The routes of the mix (round robin). */
const ROUTES = 9;
const CREATES_PER_ORG = 800;
const TIMELINE_STEP = 5;

const HOUR_MS = 3_600_000;
const SERIES_CODE = 'bench.series';
const SERIES_POINTS = 8_760;
const SERIES_FROM_MS = Date.parse('2025-01-01T00:00:00.000Z');
/** /kpi/query reads a 7-day window (168 hourly points, one page) somewhere in the year. */
const QUERY_WINDOW_HOURS = 168;
const RECORD_CODES = 16;
const RECORD_BASE_MS = Date.parse('2020-01-01T00:00:00Z');

type Tier = 'B' | 'C' | 'D';

interface Route {
  path: string;
  tier: Tier;
  /** The next request's body, or undefined when none can be sent now (counted as skipped). */
  body: () =>
    { json: string; headers?: Record<string, string>; done?: (status: number, body: string) => void } | undefined;
}

interface RouteStats {
  latencies: number[];
  non2xx: number;
  errors: number;
  skipped: number;
  firstFailure?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Output.

/** p50 / p99 of all routes together per window of `step` seconds: whether latency held steady or drifted. */
function describeTimeline(timeline: Array<[number, number]>, seconds: number, step: number): string {
  const parts: string[] = [];
  for (let from = 0; from < seconds; from += step) {
    const l = timeline
      .filter(([t]) => t >= from && t < from + step)
      .map(([, ms]) => ms)
      .sort((a, b) => a - b);
    parts.push(
      `${from}-${from + step} s ${fmt(percentile(l, 50, NO_SAMPLE), 1)}/${fmt(percentile(l, 99, NO_SAMPLE), 1)}`,
    );
  }
  return parts.join(', ');
}

function describeCannon(r: autocannon.Result): string {
  return (
    `${fmt(r.requests.average)} req/s, latency p50 ${fmt(r.latency.p50, 1)} ms, p99 ${fmt(r.latency.p99, 1)} ms, ` +
    `${fmt(r.requests.total)} requests in ${fmt(r.duration, 1)} s, ${r.non2xx + r.errors + r.timeouts} failed`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP.

interface Reply {
  status: number;
  body: string;
}

function post(agent: Agent, port: number, path: string, headers: Record<string, string>, json: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(json)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout after 10 s')));
    req.on('error', reject);
    req.end(json);
  });
}

/** A seeding call that must succeed: its `data`. */
async function call<T>(
  agent: Agent,
  port: number,
  path: string,
  headers: Record<string, string>,
  body: unknown,
): Promise<T> {
  const r = await post(agent, port, path, headers, JSON.stringify(body));
  if (r.status < 200 || r.status >= 300)
    throw new Error(`seeding: ${path} answered ${r.status}: ${r.body.slice(0, 300)}`);
  return (JSON.parse(r.body) as { data: T }).data;
}

/** `fn(i)` for i in [0, n), `concurrency` at a time. */
async function inParallel<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, () => worker()));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Seeding.

interface Seeded {
  webhookIds: string[];
  jobIds: string[];
  events: number;
  snapshots: number;
}

const rfpCreated = (rfpId: string): Record<string, unknown> => ({
  rfp_id: rfpId,
  title: 'Fleet telematics, 400 vehicles',
  buyer: { org_id: 'ORG-17', name: 'Acme Logistics' },
  status: 'open',
});

async function seedTenant(
  agent: Agent,
  port: number,
  headers: Record<string, string>,
  webhooks: number,
  events: number,
  prefix: string,
): Promise<Pick<Seeded, 'webhookIds' | 'jobIds'>> {
  const webhookIds = await inParallel(webhooks, 8, async (i) => {
    const data = await call<{ webhook_id?: string; webhook?: { webhook_id: string } }>(
      agent,
      port,
      '/ipm/webhook/create',
      headers,
      {
        endpoint_url: PUBLIC_URL,
        name: `${prefix} hook ${i}`,
        description: `Pushes RFP changes to system ${i}`,
        event_filters: i % 3 === 0 ? [{ service: 'rfp', action: 'created' }] : [{ service: 'rfp' }],
        tags: [`team${i % 5}`],
      },
    );
    const id = data.webhook_id ?? data.webhook?.webhook_id;
    if (!id) throw new Error(`seeding: /webhook/create returned no webhook_id: ${JSON.stringify(data)}`);
    return id;
  });
  const jobBodies = [
    { route: 'import/create', body: { target: 'events', format: 'ndjson' } },
    { route: 'import/create', body: { target: 'events', format: 'ndjson' } },
    { route: 'import/create', body: { target: 'events', format: 'ndjson' } },
    { route: 'export/create', body: { target: 'webhooks', format: 'csv' } },
    { route: 'export/create', body: { target: 'events', format: 'ndjson', from_utc: '2026-01-01T00:00:00Z' } },
  ];
  const jobIds: string[] = [];
  for (const j of jobBodies) {
    const data = await call<{ job: { job_id: string } }>(agent, port, `/ipm/bulk/${j.route}`, headers, j.body);
    jobIds.push(data.job.job_id);
  }
  for (let from = 0; from < events; from += PUBLISH_BATCH) {
    const batch = Array.from({ length: Math.min(PUBLISH_BATCH, events - from) }, (_, k) => {
      const n = from + k;
      return n % 4 === 3
        ? { event_type: 'rfp.status_changed', payload: { rfp_id: `RFP-${n}`, from: 'open', to: 'evaluating' } }
        : { event_type: 'rfp.created', payload: rfpCreated(`RFP-${n}`) };
    });
    await call(agent, port, '/ipm/event/publish', headers, { events: batch });
  }
  return { webhookIds, jobIds };
}

/** A 1-year hourly series per tenant in one statement each (as bench/kpi.bench.ts does). */
async function seedSeries(monitor: Client, orgs: string[]): Promise<number> {
  let o = 0;
  for (const org of orgs) {
    await monitor.query(
      `INSERT INTO kpi_snapshots (kpi_id, orgcode, app_id, kpi_code, scope, bucket, bucket_start, bucket_end, value,
         created_at, created_by, updated_at, updated_by, revision)
       SELECT 'kpi_' || $6 || lpad(upper(to_hex(i)), 25, '0'), $1, NULL, $2, 'org', 'hourly',
              $3::timestamptz + make_interval(hours => i), $3::timestamptz + make_interval(hours => i + 1),
              round((100 + 50 * sin(i / 24.0) + (i % 7))::numeric, 3)::float8, now(), $4, now(), $4, 1
       FROM generate_series(0, $5 - 1) AS i`,
      [org, SERIES_CODE, new Date(SERIES_FROM_MS).toISOString(), SUB, SERIES_POINTS, String(o++)],
    );
  }
  await monitor.query('ANALYZE');
  const { rows } = await monitor.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM kpi_snapshots WHERE orgcode = $1 AND kpi_code = $2',
    [ORG, SERIES_CODE],
  );
  return rows[0].n;
}

// ---------------------------------------------------------------------------------------------------------------
// The route mix.

/**
 * `createHeaders`: the tenants /webhook/create writes to, in turn. A tenant may hold at most 1,000 webhooks, and
 * 500 req/s over nine routes creates ~56 a second, so the creates are spread over tenants of their own.
 */
function routes(seeded: Seeded, createHeaders: Array<Record<string, string>>): Route[] {
  let n = 0;
  const pick = <T>(xs: readonly T[]): T => xs[n++ % xs.length];
  const readIds = seeded.webhookIds;
  // /webhook/status/set: each toggled webhook's status and revision, and whether a request on it is in flight.
  const toggles = seeded.webhookIds
    .slice(-TOGGLE_POOL)
    .map((id) => ({ id, status: 'active', revision: 1, busy: false }));
  let toggleAt = 0;
  let created = 0;
  let recorded = 0;
  return [
    { path: '/webhook/get', tier: 'B', body: () => ({ json: JSON.stringify({ webhook_id: pick(readIds) }) }) },
    {
      path: '/webhook/list',
      tier: 'B',
      body: () => ({ json: JSON.stringify(n++ % 2 ? { limit: 25 } : { limit: 25, tag: 'team1' }) }),
    },
    { path: '/bulk/job/get', tier: 'B', body: () => ({ json: JSON.stringify({ job_id: pick(seeded.jobIds) }) }) },
    {
      path: '/event/catalog/list',
      tier: 'B',
      body: () => ({ json: JSON.stringify(n++ % 2 ? {} : { service: 'rfp' }) }),
    },
    {
      path: '/cdc/list',
      tier: 'C',
      body: () => ({ json: JSON.stringify(n++ % 2 ? { limit: 50 } : { limit: 50, event_type: 'rfp.created' }) }),
    },
    {
      path: '/kpi/query',
      tier: 'C',
      body: () => {
        const startHour = (n++ * 97) % (SERIES_POINTS - QUERY_WINDOW_HOURS);
        const from = SERIES_FROM_MS + startHour * HOUR_MS;
        return {
          json: JSON.stringify({
            kpi_code: SERIES_CODE,
            bucket: 'hourly',
            from_utc: new Date(from).toISOString(),
            to_utc: new Date(from + QUERY_WINDOW_HOURS * HOUR_MS).toISOString(),
            limit: 256,
          }),
        };
      },
    },
    {
      path: '/webhook/create',
      tier: 'D',
      body: () => {
        const i = created++;
        return {
          headers: createHeaders[i % createHeaders.length],
          json: JSON.stringify({
            endpoint_url: PUBLIC_URL,
            name: `load hook ${i}`,
            event_filters: [{ service: 'rfp' }],
            tags: [`load${i % 4}`],
          }),
        };
      },
    },
    {
      path: '/webhook/status/set',
      tier: 'D',
      body: () => {
        for (let k = 0; k < toggles.length; k++) {
          const t = toggles[(toggleAt + k) % toggles.length];
          if (t.busy) continue;
          toggleAt = (toggleAt + k + 1) % toggles.length;
          t.busy = true;
          const status = t.status === 'active' ? 'paused' : 'active';
          return {
            json: JSON.stringify({ webhook_id: t.id, status, expected_revision: String(t.revision) }),
            done: (code, body) => {
              t.busy = false;
              if (code < 200 || code >= 300) return;
              t.status = status;
              try {
                const rev = (JSON.parse(body) as { data?: { webhook?: { revision?: string } } }).data?.webhook
                  ?.revision;
                t.revision = rev ? Number(rev) : t.revision + 1;
              } catch {
                t.revision++;
              }
            },
          };
        }
        return undefined;
      },
    },
    {
      path: '/kpi/record',
      tier: 'D',
      body: () => {
        const i = recorded++;
        return {
          json: JSON.stringify({
            kpi: {
              kpi_code: `bench.rec.${i % RECORD_CODES}`,
              bucket: 'hourly',
              bucket_start: new Date(RECORD_BASE_MS + Math.floor(i / RECORD_CODES) * HOUR_MS).toISOString(),
              value: i % 1000,
            },
          }),
        };
      },
    },
  ];
}

interface OpenLoopRun {
  stats: Map<string, RouteStats>;
  sent: number;
  /** How late the generator sent its requests (ms, ascending): it must keep to its schedule for the load to be open. */
  lag: number[];
  seconds: number;
  /** Every request of every route: [seconds from the start to its due time, latency ms], for a timeline. */
  timeline: Array<[number, number]>;
}

/**
 * Open loop: request k is due at start + k / rate and is sent then, whatever the earlier ones are doing; its latency
 * runs from its due time (so the generator's own lateness counts against the api, never hides it).
 */
async function openLoop(
  agent: Agent,
  port: number,
  headers: Record<string, string>,
  mix: Route[],
  rate: number,
  seconds: number,
): Promise<OpenLoopRun> {
  const stats = new Map<string, RouteStats>(
    mix.map((r) => [r.path, { latencies: [], non2xx: 0, errors: 0, skipped: 0 }]),
  );
  const lag: number[] = [];
  const timeline: Array<[number, number]> = [];
  const inFlight = new Set<Promise<void>>();
  const total = Math.round(rate * seconds);
  const start = performance.now();
  const interval = 1000 / rate;
  let k = 0;
  while (k < total) {
    const now = performance.now();
    while (k < total && start + k * interval <= now) {
      const due = start + k * interval;
      const route = mix[k % mix.length];
      k++;
      const s = stats.get(route.path) as RouteStats;
      const body = route.body();
      if (!body) {
        s.skipped++;
        continue;
      }
      lag.push(performance.now() - due);
      const p = post(agent, port, `/ipm${route.path}`, body.headers ?? headers, body.json).then(
        (r) => {
          s.latencies.push(performance.now() - due);
          timeline.push([(due - start) / 1000, performance.now() - due]);
          if (r.status < 200 || r.status >= 300) {
            s.non2xx++;
            s.firstFailure ??= `${r.status}: ${r.body.slice(0, 200)}`;
          }
          body.done?.(r.status, r.body);
        },
        (err: unknown) => {
          s.errors++;
          s.firstFailure ??= err instanceof Error ? err.message : String(err);
          body.done?.(0, '');
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    const wait = start + k * interval - performance.now();
    await sleep(Math.max(0, Math.min(wait, 5)));
  }
  await Promise.all(inFlight);
  for (const s of stats.values()) s.latencies.sort((a, b) => a - b);
  lag.sort((a, b) => a - b);
  return { stats, sent: k, lag, seconds: (performance.now() - start) / 1000, timeline };
}

// ---------------------------------------------------------------------------------------------------------------

export async function runApiBenchmark(options: ApiBenchOptions): Promise<Figure[]> {
  const { seconds } = options;
  const runStarted = Date.now();

  // (0) The reference: a bare NestJS 12 route on Fastify, on this machine, now.
  const bare = await startBareRoute('baseline-api');
  let bareResult: autocannon.Result;
  try {
    await autocannon({ url: `${bare.baseUrl}/stat`, connections: CONNECTIONS, duration: 1 });
    bareResult = await autocannon({ url: `${bare.baseUrl}/stat`, connections: CONNECTIONS, duration: BARE_SECONDS });
  } finally {
    await bare.stop();
  }
  section(`(0) reference: a bare NestJS 12 route on Fastify (no guard, no envelope), ${CONNECTIONS} connections`, [
    describeCannon(bareResult),
  ]);

  const port = await freePort();
  const env = benchEnv(DATABASE, QUEUE_PREFIX, port);
  const databaseUrl = env.DATABASE_URL as string;
  await dropDatabase(databaseUrl);
  runCli(['migrate'], env);
  const headersOf = (org: string): Record<string, string> => ({
    authorization: `Bearer ${runCli(['token', '--org', org, '--permissions', PERMISSIONS, '--sub', SUB], env)}`,
    'x-orgcode': org,
    'content-type': 'application/json',
  });
  const headers = headersOf(ORG);
  // /webhook/create's tenants: at most CREATES_PER_ORG creates each (warm-up included), under the 1,000-webhook limit.
  const creates = Math.ceil(((WARMUP_SECONDS + seconds) * RATE) / ROUTES);
  const createHeaders = Array.from({ length: Math.max(1, Math.ceil(creates / CREATES_PER_ORG)) }, (_, i) =>
    headersOf(`apicreate${i}`),
  );

  const monitor = new Client({ connectionString: databaseUrl });
  await monitor.connect();
  const meter = new PhaseMeter(monitor);
  meter.watch('bench', process.pid);
  const agent = new Agent({ keepAlive: true, maxSockets: SOCKETS });
  let api: Server;
  try {
    if (options.cpuProfDir) mkdirSync(options.cpuProfDir, { recursive: true });
    const prof = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
    api = await Server.start('api-api', [...prof, API_MAIN], env, port, '/ipm/stat', (child) => {
      if (child.pid) meter.watch('api', child.pid);
    });
  } catch (err) {
    meter.stop();
    await monitor.end();
    agent.destroy();
    throw err;
  }

  let seeded: Seeded;
  let run: OpenLoopRun;
  let maxGet: autocannon.Result;
  const seedStarted = performance.now();
  try {
    // Seeding: the other tenants first, then ours, so that ours is not alone at either end of any index.
    for (const org of OTHER_ORGS) {
      await seedTenant(agent, port, headersOf(org), OTHER_WEBHOOKS, OTHER_EVENTS, org);
    }
    const ours = await seedTenant(agent, port, headers, WEBHOOKS, EVENTS, ORG);
    const snapshots = await seedSeries(monitor, [...OTHER_ORGS, ORG]);
    seeded = { ...ours, events: EVENTS, snapshots };
    section('seeding', [
      `${ORG}: ${WEBHOOKS} webhooks, ${ours.jobIds.length} bulk jobs, ${fmt(EVENTS)} events, ` +
        `${fmt(snapshots)} hourly KPI snapshots; ${OTHER_ORGS.length} other tenants with ${OTHER_WEBHOOKS} webhooks, ` +
        `5 bulk jobs, ${fmt(OTHER_EVENTS)} events and a KPI series each; ` +
        `${fmt((performance.now() - seedStarted) / 1000, 1)} s`,
    ]);

    // (1) The open-loop mix: a warm-up at the same rate (the writers' state carries on), then the measured run.
    const mix = routes(seeded, createHeaders);
    await meter.enter('warm-up');
    const warm = await openLoop(agent, port, headers, mix, RATE, WARMUP_SECONDS);
    const warmFailed = [...warm.stats.values()].reduce((a, s) => a + s.non2xx + s.errors, 0);
    if (warmFailed) {
      const first = [...warm.stats.entries()].find(([, s]) => s.firstFailure);
      line(`warm-up: ${warmFailed} failed requests (first: ${first?.[0]} ${first?.[1].firstFailure})`);
    }
    await meter.enter('mix');
    run = await openLoop(agent, port, headers, mix, RATE, seconds);
    await meter.enter('between');

    // (2) /webhook/get's max rate, closed loop, over the tenant's webhooks.
    let g = 0;
    const getLoad = (duration: number): Promise<autocannon.Result> =>
      autocannon({
        url: api.baseUrl,
        connections: CONNECTIONS,
        duration,
        requests: [
          {
            method: 'POST',
            path: '/ipm/webhook/get',
            headers,
            setupRequest: (req: Record<string, unknown>) => ({
              ...req,
              body: JSON.stringify({ webhook_id: seeded.webhookIds[g++ % seeded.webhookIds.length] }),
            }),
          },
        ],
      } as autocannon.Options);
    await getLoad(1);
    await meter.enter('max get');
    maxGet = await getLoad(Math.min(MAX_RATE_SECONDS, Math.max(3, seconds)));
    await meter.enter('done');
  } finally {
    meter.stop();
    await monitor.end();
    agent.destroy();
    await api.stop();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(loadConfig(env).REDIS_URL, QUEUE_PREFIX);
  }

  // Figures.
  const bareRps = bareResult.requests.average;
  const share = (100 * maxGet.requests.average) / Math.max(1, bareRps);
  const mix = routes(seeded, createHeaders);
  const json: JsonFigure[] = [{ name: 'bare route req/s (reference)', value: bareRps, unit: 'req/s' }];
  const figures: Figure[] = [];
  const table: string[] = [
    `${'route'.padEnd(22)} tier ${'requests'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ` +
      `${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'non-2xx'.padStart(8)} ${'errors'.padStart(7)}`,
  ];
  let failedTotal = 0;
  for (const r of mix) {
    const s = run.stats.get(r.path) as RouteStats;
    const l = s.latencies;
    const [p50, p95, p99] = [percentile(l, 50, NO_SAMPLE), percentile(l, 95, NO_SAMPLE), percentile(l, 99, NO_SAMPLE)];
    failedTotal += s.non2xx + s.errors + s.skipped;
    table.push(
      `${r.path.padEnd(22)} ${r.tier.padEnd(4)} ${fmt(l.length).padStart(8)} ${fmt(p50, 1).padStart(8)} ` +
        `${fmt(p95, 1).padStart(8)} ${fmt(p99, 1).padStart(8)} ${fmt(l.length ? l[l.length - 1] : 0, 1).padStart(8)} ` +
        `${String(s.non2xx).padStart(8)} ${String(s.errors).padStart(7)}` +
        (s.skipped ? ` (${s.skipped} skipped)` : '') +
        (s.firstFailure ? `  first failure: ${s.firstFailure}` : ''),
    );
    const write = r.tier === 'D';
    json.push(
      { name: `${r.path} p50`, value: p50, unit: 'ms' },
      {
        name: `${r.path} p95`,
        value: p95,
        unit: 'ms',
        target: write ? WRITE_P95_MS : READ_P95_MS,
        higher_is_better: false,
      },
      write
        ? { name: `${r.path} p99`, value: p99, unit: 'ms' }
        : { name: `${r.path} p99`, value: p99, unit: 'ms', target: READ_P99_MS, higher_is_better: false },
      { name: `${r.path} non-2xx`, value: s.non2xx + s.errors + s.skipped, unit: 'responses' },
    );
    figures.push({
      name: `${r.path} p95 @${RATE} req/s (tier ${r.tier})`,
      value: p95,
      unit: 'ms',
      bound: 'max',
      target: write ? WRITE_P95_MS : READ_P95_MS,
    });
    if (!write) {
      figures.push({
        name: `${r.path} p99 @${RATE} req/s (tier ${r.tier})`,
        value: p99,
        unit: 'ms',
        bound: 'max',
        target: READ_P99_MS,
      });
    }
  }
  const achieved = run.sent / Math.max(0.001, run.seconds);
  json.push(
    { name: 'open-loop rate achieved', value: achieved, unit: 'req/s', target: RATE * 0.98, higher_is_better: true },
    { name: 'open-loop send lag p99', value: percentile(run.lag, 99, NO_SAMPLE), unit: 'ms' },
    {
      name: 'mix failed responses (non-2xx, errors, skipped)',
      value: failedTotal,
      unit: 'responses',
      target: 0,
      higher_is_better: false,
    },
    {
      name: '/webhook/get max req/s',
      value: maxGet.requests.average,
      unit: 'req/s',
      limit: bareRps,
      ratio: maxGet.requests.average / Math.max(1, bareRps),
    },
    {
      name: '/webhook/get max rate share of the bare route',
      value: share,
      unit: '%',
      target: MIN_GET_SHARE_OF_BARE,
      higher_is_better: true,
    },
  );
  figures.push(
    { name: `mix failed responses @${RATE} req/s`, value: failedTotal, unit: 'responses', bound: 'max', target: 0 },
    {
      // In req/s against the bare route's (raw): the target is 35 % of it.
      name: '/webhook/get max rate (closed loop)',
      value: maxGet.requests.average,
      unit: 'req/s',
      bound: 'min',
      target: (MIN_GET_SHARE_OF_BARE / 100) * bareRps,
      raw: bareRps,
    },
  );

  const cores = cpus().length;
  const where = (phase: string, requests: number): string[] => {
    const p = meter.phases.get(phase);
    const per = (cpu: number): string => fmt((1000 * cpu) / Math.max(1, requests), 2);
    return [
      `    ${meter.describe(phase, cores)}; per request: api ${per(p?.cpu.api ?? 0)} ms CPU, ` +
        `postgres ${per(p?.pgCpu ?? 0)} ms`,
      ...meter.pgActivity(phase, 5).map((a) => `        ${a}`),
    ];
  };

  section('api figures (JSON, one per line)');
  for (const f of json) printJson('api', f);
  section(`(api) API latency per route, open loop at ${RATE} req/s for ${fmt(run.seconds, 1)} s`, [
    `${fmt(run.sent)} requests sent (${fmt(achieved)} req/s), round robin over ${mix.length} routes; ` +
      `latency from each request's scheduled send; send lag p50 ${fmt(percentile(run.lag, 50, NO_SAMPLE), 2)} ms, ` +
      `p99 ${fmt(percentile(run.lag, 99, NO_SAMPLE), 2)} ms`,
    ...table,
    `all routes, p50/p99 ms per ${TIMELINE_STEP} s: ${describeTimeline(run.timeline, seconds, TIMELINE_STEP)}`,
    ...where('mix', run.sent),
    `(2) POST /webhook/get max rate, closed loop, ${CONNECTIONS} connections: ${describeCannon(maxGet)}`,
    `    ${fmt(share, 1)} % of the bare route (${fmt(bareRps)} req/s)`,
    ...where('max get', maxGet.requests.total),
    `targets: Tier B/C p95 < ${READ_P95_MS} ms, p99 < ${READ_P99_MS} ms; Tier D p95 < ${WRITE_P95_MS} ms; ` +
      `0 failed; /webhook/get max >= ${MIN_GET_SHARE_OF_BARE} % of the bare route`,
  ]);
  for (const f of figures) line(verdict(f));
  if (options.cpuProfDir) printProfiles(options.cpuProfDir, runStarted, meter);
  return figures;
}

/** The api's CPU profile of this run, cut to the open-loop mix and to /webhook/get's max-rate phase. */
function printProfiles(dir: string, since: number, meter: PhaseMeter): void {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile') && !f.startsWith('window-'))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).mtimeMs >= since)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!file) {
    section(`api CPU profile: none written in ${dir}`);
    return;
  }
  for (const phase of ['mix', 'max get']) {
    const p = meter.phases.get(phase);
    if (!p) continue;
    const out = path.join(dir, `window-${phase.replace(/\s+/g, '-')}-${path.basename(file)}`);
    const samples = windowCpuProfile(file, out, p.fromUs, p.toUs);
    section(`api CPU profile, ${phase} (${fmt(samples)} samples): ${out}`, samples ? summarizeCpuProfile(out) : []);
  }
}
