// `npm run bench [-- http|micro|publish|webhooks|delivery|bulk|kpi|api|scale|noisy|hostile]`: prints each figure, its target and (when the bench
// measures one in the same run) its raw limit, one PASS/FAIL line per figure, one line of JSON per benchmark
// (`BENCH_JSON {"bench","seconds","results":[rows as in latest.json]}`), the time each took, writes them all to
// bench/results/latest.json and bench/results/latest.md (bench/results.ts), and exits 1 if any figure fails.
// Benchmarks never run inside jest.
// Environment: BENCH_CONNECTIONS (default 50), BENCH_DURATION seconds (default 5), BENCH_PUBLISH_CLIENTS
// (default 4, the concurrent publishers of `publish`), and the api's own
// variables (DATABASE_URL's server is used, with the database `ipm_bench`, recreated each run).
// `delivery` (the delivery engine, ~5 minutes) reads BENCH_DELIVERY_SECONDS (default 60, the throughput window),
// BENCH_DELIVERY_LATENCY_SECONDS (20), BENCH_DELIVERY_ENDPOINTS (64 webhooks) in BENCH_DELIVERY_TENANTS (1),
// BENCH_DELIVERY_BACKLOG (200000), BENCH_DELIVERY_FANOUT (1000), BENCH_DELIVERY_RAW_JOBS (40000),
// BENCH_DELIVERY_PUBLISHERS (4), BENCH_DELIVERY_RECEIVER_PORTS (1), BENCH_DELIVERY_CPU_PROF (a directory: the worker
// runs with --cpu-prof and writes its profiles there), and the worker's own DELIVERY_* / RELAY_POLL_MS variables.
// `bulk` (bulk import and export of events, ~6 minutes, ~4 GB of disk while it runs) reads BULK_BENCH_LINES
// (default 1000000), BULK_BENCH_CPU_PROF (a directory: the worker runs with --cpu-prof and writes its profile there)
// and BULK_BENCH_ANALYZE (1: ANALYZE events before the export, a diagnostic).
// `scale` (BENCH_SCALE_DELIVERIES, default 1000000, and BENCH_SCALE_EVENTS, 100000: list, feed and stats latency
// on an empty and a grown database, fan-out per webhook at 10/100/1,000, ~70 s), `noisy` (a hanging endpoint beside
// 10 healthy ones: BENCH_NOISY_SECONDS per phase, default 20, BENCH_NOISY_RATE events/s, default 100), `hostile` (a tenant's costly
// schemas, payloads and imports for BENCH_HOSTILE_SECONDS, default 20, ~1 minute: another caller's GET /ipm/stat p99 and
// each app's worst event-loop block, from its /metrics), `api` (open-loop 500 req/s over nine routes for BENCH_API_SECONDS, default 30, ~1 minute; BENCH_API_CPU_PROF
// profiles the api) and `kpi` (/kpi/record and /kpi/query, ~1 minute) reads BENCH_KPI_SECONDS (default 10, each measured phase),
// BENCH_KPI_CONNECTIONS (32, the record phase's autocannon connections) and BENCH_KPI_QUERY_CLIENTS (4).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runHttpBenchmarks } from './http.bench';
import { runMicroBenchmarks } from './micro.bench';
import { runPublishBenchmark } from './publish.bench';
import { runWebhooksBenchmark } from './webhooks.bench';
import { runDeliveryBenchmark } from './delivery.bench';
import { runBulkBenchmark } from './bulk.bench';
import { runKpiBenchmark } from './kpi.bench';
import { runApiBenchmark } from './api.bench';
import { runNoisyNeighbourBenchmark } from './noisy.bench';
import { runHostileTenantBenchmark } from './hostile.bench';
import { runScaleBenchmark } from './scale.bench';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { API_MAIN, WORKER_MAIN } from './processes';
import { Figure, fmt, passes, section, verdict } from './report';
import { toResults, toRow, writeResults } from './results';

/** Every benchmark, in the order the suite runs them. */
const BENCH_NAMES = [
  'http',
  'publish',
  'webhooks',
  'kpi',
  'api',
  'scale',
  'noisy',
  'hostile',
  'delivery',
  'bulk',
  'micro',
] as const;
type BenchName = (typeof BENCH_NAMES)[number];

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

/**
 * Writes out what the previous benchmark left dirty in PostgreSQL's buffers (the bulk benchmark leaves
 * gigabytes), so that its checkpoint's disk writes do not slow the next one's commits; untimed.
 */
/**
 * Set in the process of one benchmark of the whole suite: the file its figures go to (the suite
 * reports them) instead of the report.
 */
const FIGURES_OUT = process.env.BENCH_FIGURES_OUT;

/**
 * One benchmark of the whole suite, in a process of its own (so that its load generator does not
 * carry the heap and timers of the ones before); its figures, or null if it crashed.
 */
function runInChild(name: BenchName): Figure[] | null {
  const dir = mkdtempSync(join(tmpdir(), 'ipm-bench-'));
  const out = join(dir, 'figures.json');
  try {
    spawnSync(process.execPath, [...process.execArgv, __filename, name], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_FIGURES_OUT: out },
    });
    return existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Figure[]) : null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function settleDatabase(): Promise<void> {
  // The server's maintenance database: the configured one (e.g. `ipm`) may not exist.
  const url = new URL(loadConfig(process.env).DATABASE_URL);
  url.pathname = '/postgres';
  const db = new Client({ connectionString: url.toString() });
  const started = performance.now();
  // Needs superuser or pg_checkpoint: without it, the benchmarks run unsettled.
  const done = await db
    .connect()
    .then(() => db.query('CHECKPOINT'))
    .then(
      () => true,
      () => false,
    );
  await db.end().catch(() => undefined);
  const seconds = (performance.now() - started) / 1000;
  if (!done) process.stdout.write('\n(CHECKPOINT refused: the benchmarks run without settling the database)\n');
  else if (seconds >= 1) process.stdout.write(`\n(database settled: CHECKPOINT took ${fmt(seconds, 1)} s)\n`);
}

async function main(): Promise<number> {
  const only = process.argv[2] as BenchName | undefined;
  if (only !== undefined && !BENCH_NAMES.includes(only)) {
    throw new Error(`usage: npm run bench [-- ${BENCH_NAMES.join('|')}], got "${String(only)}"`);
  }
  const connections = positiveInt('BENCH_CONNECTIONS', 50);
  const duration = positiveInt('BENCH_DURATION', 5);
  const loadAverage = loadavg();
  const generatedAt = new Date().toISOString();
  const load = loadAverage.map((l) => fmt(l, 2)).join(' ');
  if (!FIGURES_OUT) {
    process.stdout.write(
      `IPM benchmarks: node ${process.version}, ${cpus().length} CPUs, load average ${load} ` +
        `(other work on the machine lowers every figure)\n`,
    );
    if (only !== 'micro') process.stdout.write(`api: ${API_MAIN} built ${statSync(API_MAIN).mtime.toISOString()}\n`);
    if (only === undefined || ['delivery', 'bulk', 'noisy', 'hostile', 'scale'].includes(only)) {
      process.stdout.write(`worker: ${WORKER_MAIN} built ${statSync(WORKER_MAIN).mtime.toISOString()}\n`);
    }
  }

  const figures: Figure[] = [];
  const suiteStarted = performance.now();
  const timings: Array<{ bench: BenchName; seconds: number }> = [];
  const crashed: BenchName[] = [];
  /**
   * Runs one benchmark (unless another was asked for; in a process of its own in the whole suite)
   * and prints its figures as one line of JSON.
   */
  const bench = async (name: BenchName, run: () => Figure[] | Promise<Figure[]>): Promise<void> => {
    if (only !== undefined && only !== name) return;
    if (FIGURES_OUT) {
      writeFileSync(FIGURES_OUT, JSON.stringify(await run()));
      return;
    }
    if (name !== 'micro') await settleDatabase();
    const started = performance.now();
    const measured = only === undefined ? runInChild(name) : await run();
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    timings.push({ bench: name, seconds });
    if (!measured) {
      crashed.push(name);
      return;
    }
    figures.push(...measured);
    process.stdout.write(`\nBENCH_JSON ${JSON.stringify({ bench: name, seconds, results: measured.map(toRow) })}\n`);
  };
  await bench('http', () => runHttpBenchmarks({ connections, duration }));
  await bench('publish', () => runPublishBenchmark({ clients: positiveInt('BENCH_PUBLISH_CLIENTS', 4), duration }));
  await bench('webhooks', () => runWebhooksBenchmark({ duration }));
  await bench('kpi', () =>
    runKpiBenchmark({
      seconds: positiveInt('BENCH_KPI_SECONDS', 10),
      connections: positiveInt('BENCH_KPI_CONNECTIONS', 32),
      queryClients: positiveInt('BENCH_KPI_QUERY_CLIENTS', 4),
    }),
  );
  await bench('api', () =>
    runApiBenchmark({
      seconds: positiveInt('BENCH_API_SECONDS', 30),
      cpuProfDir: process.env.BENCH_API_CPU_PROF || undefined,
    }),
  );
  await bench('scale', () =>
    runScaleBenchmark({
      deliveries: positiveInt('BENCH_SCALE_DELIVERIES', 1_000_000),
      events: positiveInt('BENCH_SCALE_EVENTS', 100_000),
    }),
  );
  await bench('noisy', () =>
    runNoisyNeighbourBenchmark({
      seconds: positiveInt('BENCH_NOISY_SECONDS', 20),
      rate: positiveInt('BENCH_NOISY_RATE', 100),
    }),
  );
  await bench('hostile', () =>
    runHostileTenantBenchmark({
      seconds: positiveInt('BENCH_HOSTILE_SECONDS', 20),
      cpuProfDir: process.env.BENCH_HOSTILE_CPU_PROF || undefined,
    }),
  );
  await bench('delivery', () =>
    runDeliveryBenchmark({
      seconds: positiveInt('BENCH_DELIVERY_SECONDS', 60),
      latencySeconds: positiveInt('BENCH_DELIVERY_LATENCY_SECONDS', 20),
      endpoints: positiveInt('BENCH_DELIVERY_ENDPOINTS', 64),
      tenants: positiveInt('BENCH_DELIVERY_TENANTS', 1),
      backlog: positiveInt('BENCH_DELIVERY_BACKLOG', 200_000),
      fanout: positiveInt('BENCH_DELIVERY_FANOUT', 1000),
      rawJobs: positiveInt('BENCH_DELIVERY_RAW_JOBS', 40_000),
      publishers: positiveInt('BENCH_DELIVERY_PUBLISHERS', 4),
      receiverPorts: positiveInt('BENCH_DELIVERY_RECEIVER_PORTS', 1),
      cpuProfDir: process.env.BENCH_DELIVERY_CPU_PROF || undefined,
    }),
  );
  await bench('bulk', () =>
    runBulkBenchmark({
      lines: positiveInt('BULK_BENCH_LINES', 1_000_000),
      cpuProfDir: process.env.BULK_BENCH_CPU_PROF || undefined,
      analyzeBeforeExport: process.env.BULK_BENCH_ANALYZE === '1',
    }),
  );
  await bench('micro', () => runMicroBenchmarks());
  if (FIGURES_OUT) return 0;
  const suiteSeconds = Math.round((performance.now() - suiteStarted) / 1000);
  section(
    `time: ${fmt(suiteSeconds)} s in all (${timings.map((t) => `${t.bench} ${fmt(t.seconds, 1)} s`).join(', ')})`,
  );

  const failed = figures.filter((f) => !passes(f));
  section(`summary: ${figures.length - failed.length} of ${figures.length} figures within their limits`);
  for (const f of figures) process.stdout.write(`   ${verdict(f)}\n`);
  const written = writeResults(
    join(__dirname, 'results'),
    toResults(
      {
        generated_at: generatedAt,
        node: process.version,
        cpus: cpus().length,
        load_average: loadAverage.map((l) => Math.round(l * 100) / 100),
        only: only ?? null,
      },
      figures,
    ),
  );
  process.stdout.write(`\nresults: ${written.map((p) => relative(process.cwd(), p)).join(', ')}\n`);
  if (crashed.length) {
    process.stdout.write(`\ncrashed, no figures: ${crashed.join(', ')}\n`);
    return 2;
  }
  process.stdout.write(`\nBENCH ${failed.length ? 'FAIL' : 'PASS'}\n`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
