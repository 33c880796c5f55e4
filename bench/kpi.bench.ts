// `npm run bench -- kpi`: the KPI routes' speed (issue 7, point 6). The built api runs as a child process against its
// own database and queue prefix. Phases, in this order:
//   (0) reference: a bare NestJS 12 route on Fastify (bench/baseline-app.ts), RECORD_CONNECTIONS connections;
//   (1) POST /kpi/record with autocannon, RECORD_CONNECTIONS connections, every request a NEW hourly snapshot (its own
//       kpi_code / bucket_start pair, made by `setupRequest`), a JWT with manage_kpis -> req/s (>= 2,000), failed
//       responses and replaced-instead-of-created snapshots (0), the ratio to (0);
//   (2) POST /kpi/query: one tenant seeded in PostgreSQL (one INSERT) with a 1-year hourly series (8,760 snapshots),
//       paged through from start to end at 256 a page (following next_token), over and over, by QUERY_CLIENTS
//       concurrent clients -> p50/p95/p99 of one page request (p95 < 20 ms); every pass must see the 8,760 points
//       in order. The same keyset read run straight on PostgreSQL (pg, same clients) is printed for context (it
//       parses the rows in this process, so on 2 cores it is bounded by this process's CPU as much as PostgreSQL's).
// Per measured phase, the CPU seconds of the api, this process and the database's backends (and the api's CPU per
// request) and what the backends were busy with (pg_stat_activity samples) say where the time went.
// Each measured phase follows a warm-up. Environment: BENCH_KPI_SECONDS (default 10, each measured phase),
// BENCH_KPI_CONNECTIONS (default 32, the record phase's connections), BENCH_KPI_QUERY_CLIENTS (default 4).
import autocannon from 'autocannon';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { PhaseMeter } from './phase-meter';
import { API_MAIN, benchEnv, freePort, runCli, Server, startBareRoute } from './processes';
import { Figure, fmt, JsonFigure, line, percentile, printJson, section, verdict } from './report';

export interface KpiBenchOptions {
  /** Seconds of each measured phase (BENCH_KPI_SECONDS). */
  seconds: number;
  /** autocannon connections of the record phase and of its reference (BENCH_KPI_CONNECTIONS). */
  connections: number;
  /** Concurrent clients paging through the series (BENCH_KPI_QUERY_CLIENTS). */
  queryClients: number;
}

/** Targets (issue 7, point 6). */
const MIN_RECORD_RPS = 2_000;
const MAX_QUERY_P95_MS = 20;

const WARMUP_SECONDS = 2;
const DATABASE = 'ipm_bench_kpi';
const QUEUE_PREFIX = 'ipm-bench-kpi';
/** The record phase's tenant; the query phase reads another, so that its series is exactly the seeded one. */
const RECORD_ORG = 'kpirec';
const QUERY_ORG = 'kpiquery';
const SUB = 'bench';
/** Recorded snapshots spread over this many kpi_codes; request i is code i % CODES, hour floor(i / CODES). */
const RECORD_CODES = 16;
const RECORD_BASE_MS = Date.parse('2020-01-01T00:00:00Z');
const HOUR_MS = 3_600_000;

const SERIES_CODE = 'bench.series';
const SERIES_POINTS = 8_760;
const SERIES_FROM = '2025-01-01T00:00:00.000Z';
const SERIES_TO = new Date(Date.parse(SERIES_FROM) + SERIES_POINTS * HOUR_MS).toISOString();
const PAGE = 256;
const PAGES_PER_PASS = Math.ceil(SERIES_POINTS / PAGE);

// ---------------------------------------------------------------------------------------------------------------
// Output.

// ---------------------------------------------------------------------------------------------------------------
// (1) /kpi/record.

/** The part of autocannon's `requests` entries used here (bench/autocannon.d.ts does not declare them). */
interface CannonRequest {
  method?: 'POST';
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: CannonRequest) => CannonRequest;
  onResponse?: (status: number, body: string | Buffer) => void;
}
type CannonOptions = autocannon.Options & { requests: CannonRequest[] };

interface RecordRun {
  result: autocannon.Result;
  /** 2xx responses that said `created: false` (an existing snapshot instead of a new one). */
  notCreated: number;
}

/** A source of distinct snapshots: each call is the next (kpi_code, hourly bucket_start) pair, never repeated. */
function recordBodies(): () => string {
  let i = 0;
  return () => {
    const n = i++;
    const kpi_code = `bench.rec.${n % RECORD_CODES}`;
    const bucket_start = new Date(RECORD_BASE_MS + Math.floor(n / RECORD_CODES) * HOUR_MS).toISOString();
    return JSON.stringify({ kpi: { kpi_code, bucket: 'hourly', bucket_start, value: n % 1000 } });
  };
}

async function recordLoad(
  baseUrl: string,
  headers: Record<string, string>,
  next: () => string,
  connections: number,
  seconds: number,
): Promise<RecordRun> {
  let notCreated = 0;
  const options: CannonOptions = {
    url: baseUrl,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/ipm/kpi/record',
        headers,
        setupRequest: (req) => ({ ...req, body: next() }),
        onResponse: (status, body) => {
          if (status < 300 && !String(body).includes('"created":true')) notCreated++;
        },
      },
    ],
  };
  const result = await autocannon(options);
  return { result, notCreated };
}

function describeCannon(r: autocannon.Result): string {
  return (
    `${fmt(r.requests.average)} req/s, latency p50 ${fmt(r.latency.p50, 1)} ms, p99 ${fmt(r.latency.p99, 1)} ms, ` +
    `${fmt(r.requests.total)} requests in ${fmt(r.duration, 1)} s, ${r.non2xx + r.errors + r.timeouts} failed`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// (2) /kpi/query.

/** The 1-year hourly series in one statement, with the entity's columns (ids `kpi_` + 26 ULID characters). */
async function seedSeries(databaseUrl: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO kpi_snapshots (kpi_id, orgcode, app_id, kpi_code, scope, bucket, bucket_start, bucket_end, value,
         created_at, created_by, updated_at, updated_by, revision)
       SELECT 'kpi_0' || lpad(upper(to_hex(i)), 25, '0'), $1, NULL, $2, 'org', 'hourly',
              $3::timestamptz + make_interval(hours => i), $3::timestamptz + make_interval(hours => i + 1),
              round((100 + 50 * sin(i / 24.0) + (i % 7))::numeric, 3)::float8, now(), $4, now(), $4, 1
       FROM generate_series(0, $5 - 1) AS i`,
      [QUERY_ORG, SERIES_CODE, SERIES_FROM, SUB, SERIES_POINTS],
    );
    await client.query('ANALYZE kpi_snapshots');
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM kpi_snapshots WHERE orgcode = $1 AND kpi_code = $2',
      [QUERY_ORG, SERIES_CODE],
    );
    return rows[0].n;
  } finally {
    await client.end();
  }
}

/** A page of /kpi/query (its `data`): the snapshots in bucket_start order, and the token of the next page. */
interface QueryPage {
  series: Array<{ bucket_start: string }>;
  next_token?: string | null;
}

interface QueryRun {
  /** Milliseconds per page request, ascending. */
  latencies: number[];
  /** Complete passes over the series. */
  passes: number;
  /**
   * Page requests that were not a 200 with a page, passes that did not see the 8,760 points in order, and a run
   * with no complete pass at all.
   */
  failures: number;
  firstFailure?: string;
}

async function queryPage(baseUrl: string, headers: Record<string, string>, token?: string): Promise<QueryPage> {
  const body = {
    kpi_code: SERIES_CODE,
    bucket: 'hourly',
    from_utc: SERIES_FROM,
    to_utc: SERIES_TO,
    limit: PAGE,
    ...(token ? { next_token: token } : {}),
  };
  const res = await fetch(`${baseUrl}/ipm/kpi/query`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/kpi/query answered ${res.status}: ${text.slice(0, 300)}`);
  const json = JSON.parse(text) as { data?: Partial<QueryPage> };
  if (!Array.isArray(json.data?.series)) throw new Error(`/kpi/query returned no series: ${text.slice(0, 300)}`);
  return { series: json.data.series, next_token: json.data.next_token };
}

/** `clients` loops, each paging through the whole series from the start again and again until `seconds` are up. */
async function queryLoad(
  clients: number,
  seconds: number,
  page: (token?: string) => Promise<QueryPage>,
): Promise<QueryRun> {
  const run: QueryRun = { latencies: [], passes: 0, failures: 0 };
  const fail = (why: string): void => {
    run.failures++;
    run.firstFailure ??= why;
  };
  const stopAt = performance.now() + seconds * 1000;
  const expectedFirst = Date.parse(SERIES_FROM);
  const client = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      let token: string | undefined;
      let seen = 0;
      let inOrder = true;
      do {
        const started = performance.now();
        let p: QueryPage;
        try {
          p = await page(token);
        } catch (err) {
          fail(err instanceof Error ? err.message : String(err));
          break;
        }
        run.latencies.push(performance.now() - started);
        for (const item of p.series) {
          if (Date.parse(item.bucket_start) !== expectedFirst + seen * HOUR_MS) inOrder = false;
          seen++;
        }
        token = p.next_token ?? undefined;
      } while (token && performance.now() < stopAt);
      if (token) break; // cut short by the clock: not a pass
      if (seen === SERIES_POINTS && inOrder) run.passes++;
      else fail(`a pass saw ${seen} points${inOrder ? '' : ' out of order'}, not ${SERIES_POINTS} in order`);
    }
  };
  await Promise.all(Array.from({ length: clients }, () => client()));
  if (run.passes === 0) fail('no complete pass over the series');
  run.latencies.sort((a, b) => a - b);
  return run;
}

/**
 * The route's keyset read straight on PostgreSQL (the statement of libs/kpis/src/query/kpi-query.sql.ts, one row
 * more than the page): the same rows from the same index, without HTTP, auth, validation, page tokens or JSON.
 * Here the "token" is the last bucket_start of the previous page.
 */
function rawPages(clients: Client[]): Array<(token?: string) => Promise<QueryPage>> {
  const where = 'orgcode = $1 AND kpi_code = $2 AND bucket = $3 AND scope = $4';
  return clients.map((client) => async (token?: string) => {
    const { rows } = await client.query<{ bucket_start: Date }>(
      `SELECT * FROM kpi_snapshots WHERE ${where} AND bucket_start ${token ? '>' : '>='} $5 AND bucket_start < $6 ` +
        'ORDER BY bucket_start LIMIT $7',
      [QUERY_ORG, SERIES_CODE, 'hourly', 'org', token ?? SERIES_FROM, SERIES_TO, PAGE + 1],
    );
    const series = rows.slice(0, PAGE).map((r) => ({ bucket_start: r.bucket_start.toISOString() }));
    return { series, next_token: rows.length > PAGE ? series[series.length - 1].bucket_start : undefined };
  });
}

/** Like queryLoad, each client with its own page function (its own pg connection). */
async function rawLoad(pages: Array<(token?: string) => Promise<QueryPage>>, seconds: number): Promise<QueryRun> {
  const runs = await Promise.all(pages.map((page) => queryLoad(1, seconds, page)));
  return {
    latencies: runs.flatMap((r) => r.latencies).sort((a, b) => a - b),
    passes: runs.reduce((n, r) => n + r.passes, 0),
    failures: runs.reduce((n, r) => n + r.failures, 0),
    firstFailure: runs.find((r) => r.firstFailure)?.firstFailure,
  };
}

function describeQuery(r: QueryRun, seconds: number): string {
  const l = r.latencies;
  return (
    `${fmt(l.length)} pages (${fmt(l.length / seconds)}/s), ${r.passes} full passes, per page p50 ` +
    `${fmt(percentile(l, 50), 2)} ms, p95 ${fmt(percentile(l, 95), 2)} ms, p99 ${fmt(percentile(l, 99), 2)} ms, ` +
    `max ${fmt(l.length ? l[l.length - 1] : 0, 1)} ms, ${r.failures} failed` +
    (r.firstFailure ? ` (first: ${r.firstFailure})` : '')
  );
}

// ---------------------------------------------------------------------------------------------------------------

export async function runKpiBenchmark(options: KpiBenchOptions): Promise<Figure[]> {
  const { seconds, connections, queryClients } = options;

  // (0) The reference: a bare NestJS 12 route on Fastify, on this machine, now.
  const bare = await startBareRoute('baseline-kpi');
  let bareResult: autocannon.Result;
  try {
    await autocannon({ url: `${bare.baseUrl}/stat`, connections, duration: 1 });
    bareResult = await autocannon({ url: `${bare.baseUrl}/stat`, connections, duration: Math.min(5, seconds) });
  } finally {
    await bare.stop();
  }
  section(`(0) reference: a bare NestJS 12 route on Fastify (no guard, no envelope), ${connections} connections`, [
    describeCannon(bareResult),
  ]);

  const port = await freePort();
  const env = benchEnv(DATABASE, QUEUE_PREFIX, port);
  const databaseUrl = env.DATABASE_URL as string;
  await dropDatabase(databaseUrl);
  runCli(['migrate'], env);
  const seeded = await seedSeries(databaseUrl);
  const token = (org: string, permissions: string): string =>
    runCli(['token', '--org', org, '--permissions', permissions, '--sub', SUB], env);
  const recordHeaders = {
    authorization: `Bearer ${token(RECORD_ORG, 'manage_kpis')}`,
    'x-orgcode': RECORD_ORG,
    'content-type': 'application/json',
  };
  const queryHeaders = {
    authorization: `Bearer ${token(QUERY_ORG, 'view_kpis')}`,
    'x-orgcode': QUERY_ORG,
    'content-type': 'application/json',
  };

  // Where the time goes (CPU seconds of the api, this process and the database's backends, per phase).
  const monitor = new Client({ connectionString: databaseUrl });
  await monitor.connect();
  const meter = new PhaseMeter(monitor);
  meter.watch('bench', process.pid);
  let api: Server;
  try {
    api = await Server.start('api-kpi', [API_MAIN], env, port, '/ipm/stat', (child) => {
      if (child.pid) meter.watch('api', child.pid);
    });
  } catch (err) {
    meter.stop();
    await monitor.end();
    throw err;
  }
  let record: RecordRun;
  let recordWarm: RecordRun;
  let stored: number;
  let query: QueryRun | undefined;
  let raw: QueryRun | undefined;
  let querySkipped: string | undefined;
  try {
    // (1) /kpi/record: a warm-up, then the measured run; one body source, so no snapshot is ever sent twice.
    const next = recordBodies();
    await meter.enter('warm-up');
    recordWarm = await recordLoad(api.baseUrl, recordHeaders, next, connections, WARMUP_SECONDS);
    await meter.enter('record');
    record = await recordLoad(api.baseUrl, recordHeaders, next, connections, seconds);
    await meter.enter('between');
    const { rows } = await monitor.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM kpi_snapshots WHERE orgcode = $1',
      [RECORD_ORG],
    );
    stored = rows[0].n;

    // (2) /kpi/query, when the api has the route.
    const probe = await fetch(`${api.baseUrl}/ipm/kpi/query`, {
      method: 'POST',
      headers: queryHeaders,
      body: JSON.stringify({ kpi_code: SERIES_CODE, bucket: 'hourly', from_utc: SERIES_FROM, to_utc: SERIES_TO }),
    });
    if (probe.status === 404) {
      querySkipped = `POST /ipm/kpi/query answered 404: the route is not in this build (${API_MAIN})`;
    } else {
      const page = (t?: string): Promise<QueryPage> => queryPage(api.baseUrl, queryHeaders, t);
      await queryLoad(queryClients, WARMUP_SECONDS, page);
      await meter.enter('query');
      query = await queryLoad(queryClients, seconds, page);
      await meter.enter('between');
      const pgClients = Array.from({ length: queryClients }, () => new Client({ connectionString: databaseUrl }));
      await Promise.all(pgClients.map((c) => c.connect()));
      try {
        await rawLoad(rawPages(pgClients), 1);
        await meter.enter('raw query');
        raw = await rawLoad(rawPages(pgClients), Math.min(5, seconds));
        await meter.enter('between'); // while its backends are alive, so that their CPU counts
      } finally {
        await Promise.all(pgClients.map((c) => c.end()));
      }
    }
    await meter.enter('done');
  } finally {
    meter.stop();
    await monitor.end();
    await api.stop();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(loadConfig(env).REDIS_URL, QUEUE_PREFIX);
  }

  const r = record.result;
  const cores = cpus().length;
  /** CPU milliseconds of `label` per request (or page) in `phase`. */
  const cpuMsPer = (phase: string, label: string, requests: number): number =>
    (1000 * (meter.phases.get(phase)?.cpu[label] ?? 0)) / Math.max(1, requests);
  const where = (phase: string, requests: number, what: string): string[] => [
    `    ${meter.describe(phase, cores)}; api ${fmt(cpuMsPer(phase, 'api', requests), 2)} ms of CPU per ${what}, ` +
      `postgres ${fmt((1000 * (meter.phases.get(phase)?.pgCpu ?? 0)) / Math.max(1, requests), 2)} ms`,
    ...meter.pgActivity(phase, 4).map((a) => `        ${a}`),
  ];
  const bareRps = bareResult.requests.average;
  const recordFailed = r.non2xx + r.errors + r.timeouts;
  const okResponses = (run: RecordRun): number =>
    Object.entries(run.result.statusCodeStats)
      .filter(([code]) => Number(code) >= 200 && Number(code) < 300)
      .reduce((n, [, s]) => n + s.count, 0);
  const created = okResponses(recordWarm) + okResponses(record) - recordWarm.notCreated - record.notCreated;

  const json: JsonFigure[] = [
    { name: 'bare route req/s (reference)', value: bareRps, unit: 'req/s' },
    {
      name: '/kpi/record req/s',
      value: r.requests.average,
      unit: 'req/s',
      limit: bareRps,
      ratio: r.requests.average / Math.max(1, bareRps),
      target: MIN_RECORD_RPS,
      higher_is_better: true,
    },
    { name: '/kpi/record latency p50', value: r.latency.p50, unit: 'ms' },
    { name: '/kpi/record latency p99', value: r.latency.p99, unit: 'ms' },
    { name: '/kpi/record api CPU per request', value: cpuMsPer('record', 'api', r.requests.total), unit: 'ms' },
    {
      name: '/kpi/record failed responses',
      value: recordFailed,
      unit: 'responses',
      target: 0,
      higher_is_better: false,
    },
    {
      name: '/kpi/record replaced instead of created',
      value: record.notCreated + recordWarm.notCreated,
      unit: 'responses',
      target: 0,
      higher_is_better: false,
    },
    { name: '/kpi/record snapshots stored', value: stored, unit: 'rows', target: created, higher_is_better: true },
  ];
  const figures: Figure[] = [
    {
      name: 'POST /kpi/record throughput',
      value: r.requests.average,
      unit: 'req/s',
      bound: 'min',
      target: MIN_RECORD_RPS,
      raw: bareRps,
    },
    { name: 'POST /kpi/record failed responses', value: recordFailed, unit: 'responses', bound: 'max', target: 0 },
    {
      name: 'POST /kpi/record replaced, not created',
      value: record.notCreated + recordWarm.notCreated,
      unit: 'responses',
      bound: 'max',
      target: 0,
    },
  ];
  const summary = [
    `(1) POST /kpi/record, ${connections} connections, ${seconds} s, every request a new hourly snapshot:`,
    `    ${describeCannon(r)}`,
    `    ${fmt((100 * r.requests.average) / Math.max(1, bareRps), 1)} % of the bare route (${fmt(bareRps)} req/s); ` +
      `${record.notCreated + recordWarm.notCreated} answered created: false; ${fmt(stored)} snapshots stored for ` +
      `${fmt(created)} created responses (warm-up included)`,
    ...where('record', r.requests.total, 'request'),
  ];

  if (query) {
    const l = query.latencies;
    const rl = raw?.latencies ?? [];
    // No page answered: no latency to show, and the figure must not pass.
    const p95 = l.length ? percentile(l, 95) : Number.POSITIVE_INFINITY;
    json.push(
      { name: '/kpi/query page p50', value: percentile(l, 50), unit: 'ms', limit: percentile(rl, 50) },
      {
        name: '/kpi/query page p95',
        value: p95,
        unit: 'ms',
        limit: percentile(rl, 95),
        ratio: p95 / Math.max(0.001, percentile(rl, 95)),
        target: MAX_QUERY_P95_MS,
        higher_is_better: false,
      },
      { name: '/kpi/query page p99', value: percentile(l, 99), unit: 'ms', limit: percentile(rl, 99) },
      { name: '/kpi/query pages/s', value: l.length / seconds, unit: 'pages/s' },
      { name: '/kpi/query api CPU per page', value: cpuMsPer('query', 'api', l.length), unit: 'ms' },
      { name: '/kpi/query full passes', value: query.passes, unit: 'passes' },
      { name: '/kpi/query failed', value: query.failures, unit: 'responses', target: 0, higher_is_better: false },
    );
    figures.push(
      {
        name: 'POST /kpi/query page (256 of 8,760) p95',
        value: p95,
        unit: 'ms',
        bound: 'max',
        target: MAX_QUERY_P95_MS,
        ...(rl.length ? { raw: percentile(rl, 95) } : {}),
      },
      {
        name: 'POST /kpi/query failed pages or passes',
        value: query.failures,
        unit: 'responses',
        bound: 'max',
        target: 0,
      },
    );
    summary.push(
      `(2) POST /kpi/query, a 1-year hourly series (${fmt(seeded)} snapshots), pages of ${PAGE} ` +
        `(${PAGES_PER_PASS} a pass), ${queryClients} clients, ${seconds} s:`,
      `    ${describeQuery(query, seconds)}`,
      ...where('query', l.length, 'page'),
      `    raw: the same keyset page read straight with pg, ${queryClients} clients: ` +
        (raw ? describeQuery(raw, Math.min(5, seconds)) : 'not measured'),
      ...(raw ? where('raw query', raw.latencies.length, 'page').slice(0, 1) : []),
    );
  } else {
    json.push({ name: '/kpi/query skipped', value: 0, unit: 'pages' });
    summary.push(`(2) POST /kpi/query SKIPPED: ${querySkipped ?? 'not measured'}`);
  }

  section('kpi figures (JSON, one per line)');
  for (const f of json) printJson('kpi', f);
  section('(kpi) KPI record and query', [
    ...summary,
    `targets: record >= ${fmt(MIN_RECORD_RPS)} req/s with 0 failed; query p95 per page < ${MAX_QUERY_P95_MS} ms`,
  ]);
  for (const f of figures) line(verdict(f));
  return figures;
}
