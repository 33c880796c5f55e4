// `npm run bench -- delivery`: the delivery engine end to end. The built api and ONE built worker run as child
// processes against their own database and queue prefix; a receiver child process (delivery-receiver.ts) verifies
// every Standard Webhooks signature and counts unique webhook-ids, duplicates, invalid signatures and latency.
// Phases, in this order:
//   (raw) the limit: as many no-op BullMQ jobs as BENCH_DELIVERY_RAW_JOBS, one Queue + Worker in this process at
//         the worker's delivery concurrency, each signing and POSTing a delivery-shaped body to the same receiver
//         over keep-alive sockets (as many per origin as the worker's) -> jobs/s; measured before (1) and again
//         after (4), with the worker stopped: the limit is the mean;
//   (1)   sustained throughput: 500-event batches published through the api, with at most MAX_OUTSTANDING
//         deliveries published but not yet received (enough to keep the worker busy, little to drain) -> deliveries/s;
//   (2)   latency at half that rate (at most 1,500/s), published open-loop on a 50 ms tick -> p50/p99;
//   (3)   the worker stopped, a 200,000-delivery backlog published, the worker started -> its max RSS while it drains;
//   (4)   fan-out: one event to 1,000 webhooks of one tenant -> seconds until the last one arrived.
// The endpoints (BENCH_DELIVERY_ENDPOINTS, 64 webhooks, each at its own URL path of the receiver) belong to
// BENCH_DELIVERY_TENANTS tenants (default 1), every webhook subscribed to rfp.created: one event is one delivery
// to each webhook of its tenant, so consecutive deliveries go to different endpoints. The per-endpoint in-flight cap
// (DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT, 16) is left at its default: the webhooks of a tenant times the cap must
// exceed the worker's concurrency (DELIVERY_CONCURRENCY, 256), which the output checks and says.
import { createHmac, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { DEFAULT_JOB_OPTIONS } from '@ipm/queues';
import { DELIVERY_JOB_OPTIONS } from '@ipm/webhooks';
import { redisOptions } from '@ipm/redis';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { summarizeCpuProfile } from './cpu-profile';
import type { Phase, ReceiverStats } from './delivery-receiver';
import { Receiver, waitForPhase } from './receiver-process';
import { API_MAIN, benchEnv, freePort, runCli, Server, WORKER_MAIN, WORKER_NODE_ARGS } from './processes';
import { call, headersFor } from './api-client';
import { Figure, fmt, line, percentile, section, verdict } from './report';

export interface DeliveryBenchOptions {
  /** Seconds of the measured throughput window (BENCH_DELIVERY_SECONDS). */
  seconds: number;
  /** Seconds of the fixed-rate latency run (BENCH_DELIVERY_LATENCY_SECONDS). */
  latencySeconds: number;
  /** Webhooks of the throughput, latency and backlog runs (BENCH_DELIVERY_ENDPOINTS). */
  endpoints: number;
  /** Tenants they are spread over, evenly (BENCH_DELIVERY_TENANTS; a divisor of endpoints). */
  tenants: number;
  /** Deliveries published while the worker is stopped (BENCH_DELIVERY_BACKLOG). */
  backlog: number;
  /** Webhooks of the fan-out tenant (BENCH_DELIVERY_FANOUT). */
  fanout: number;
  /** Jobs of the raw BullMQ run (BENCH_DELIVERY_RAW_JOBS). */
  rawJobs: number;
  /** Concurrent publishers (BENCH_DELIVERY_PUBLISHERS). */
  publishers: number;
  /** Ports (origins) the receiver listens on; the endpoints are spread over them (BENCH_DELIVERY_RECEIVER_PORTS). */
  receiverPorts: number;
  /** When set, the worker runs with --cpu-prof and writes its profiles here (BENCH_DELIVERY_CPU_PROF). */
  cpuProfDir?: string;
}

/** Limits. Throughput: >= 3,000 deliveries/s from one worker and >= 40 % of the raw BullMQ + POST rate. */
const MIN_DELIVERIES_PER_S = 3_000;
const MIN_SHARE_OF_RAW = 40;
const MAX_LATENCY_P99_MS = 100;
const MAX_LATENCY_RATE = 1_500;
const MAX_WORKER_RSS_MB = 300;
const MAX_FANOUT_S = 2;
const FANOUT_RUNS = 3;

/** Events per publish call (the api's maximum). */
const BATCH = 500;
/** Throughput run: a batch is published only while fewer deliveries than this are published but not received. */
const MAX_OUTSTANDING = 16_000;
const WARMUP_MS = 5_000;
const LATENCY_TICK_MS = 50;
/** How long a phase may take to deliver what was published after publishing stopped. */
const DRAIN_TIMEOUT_MS = 60_000;
const RSS_INTERVAL_MS = 250;
const HEAP_INTERVAL_MS = 2_000;

const DATABASE = 'ipm_bench_delivery';
const QUEUE_PREFIX = 'ipm-bench-delivery';
const RAW_QUEUE = 'bench-raw';
const FAN_ORG = 'dlvfan';
const ALLOWLIST = '127.0.0.1/32';

const orgOf = (i: number): string => `dlv${String(i).padStart(3, '0')}`;

// ---------------------------------------------------------------------------------------------------------------
// Memory of a process, from /proc.

/** Memory of the worker: RSS from /proc every RSS_INTERVAL_MS, and V8's heap from its /metrics every 2 s. */
class RssSampler {
  maxMb = 0;
  lastMb = 0;
  samples = 0;
  /** Maxima of prom-client's nodejs_heap_size_used_bytes, nodejs_heap_size_total_bytes, nodejs_external_memory_bytes. */
  readonly heapMaxMb = { used: 0, total: 0, external: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly heapTimer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    private readonly metricsUrl: string,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), RSS_INTERVAL_MS);
    this.heapTimer = setInterval(() => void this.sampleHeap(), HEAP_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.heapTimer);
  }

  describeHeap(): string {
    const h = this.heapMaxMb;
    return `V8 heap used max ${fmt(h.used)} MB, heap total max ${fmt(h.total)} MB, external max ${fmt(h.external)} MB`;
  }

  private async sampleHeap(): Promise<void> {
    try {
      const text = await (await fetch(this.metricsUrl)).text();
      const mb = (name: string): number =>
        Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? 0) / 2 ** 20;
      this.heapMaxMb.used = Math.max(this.heapMaxMb.used, mb('nodejs_heap_size_used_bytes'));
      this.heapMaxMb.total = Math.max(this.heapMaxMb.total, mb('nodejs_heap_size_total_bytes'));
      this.heapMaxMb.external = Math.max(this.heapMaxMb.external, mb('nodejs_external_memory_bytes'));
    } catch {
      // not listening yet, or gone
    }
  }

  private sample(): void {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      if (!match) return;
      this.lastMb = Number(match[1]) / 1024;
      this.maxMb = Math.max(this.maxMb, this.lastMb);
      this.samples++;
    } catch {
      // the process has exited
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The api: webhooks and events.

/** An `rfp.created` payload of about 1 KiB (as in the publish bench) whose rfp_id is `<phase><seq>-<sent ms>`. */
function rfpPayload(key: string, i: number): Record<string, unknown> {
  return {
    rfp_id: key,
    title: `Fleet telematics for ${400 + (i % 1000)} vehicles, with installation, training and five years of support`,
    buyer: {
      org_id: `ORG-${i % 97}`,
      name: `Acme Logistics ${i}: ${'regional distribution, cold chain and last-mile delivery; '.repeat(14)}`.trim(),
    },
    due_at: '2026-03-01T17:00:00Z',
    budget: { amount: '250000.00', currency: 'EUR' },
    status: 'open',
  };
}

/** Creates webhooks (rfp.created only, so the platform's own events never reach the receiver); path -> secret. */
async function createWebhooks(
  api: string,
  jwt: string,
  hooks: ReadonlyArray<{ orgcode: string; url: string }>,
  concurrency = 8,
): Promise<Record<string, string>> {
  const secrets: Record<string, string> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < hooks.length) {
        const { orgcode, url } = hooks[next++];
        const data = await call<{ secret?: string; webhook?: { secret?: string } }>(
          `${api}/ipm/webhook/create`,
          headersFor(jwt, orgcode),
          {
            endpoint_url: url,
            name: `bench ${new URL(url).pathname}`,
            event_filters: [{ service: 'rfp', action: 'created' }],
            reason: 'benchmark',
          },
        );
        const secret = data.secret ?? data.webhook?.secret;
        if (!secret?.startsWith('whsec_')) throw new Error(`webhook/create returned no whsec_ secret for ${url}`);
        secrets[new URL(url).pathname] = secret;
      }
    }),
  );
  return secrets;
}

/** Publishes events of one phase, numbered per phase, each carrying the time its batch was sent. */
class Publisher {
  private cursor = 0;
  private readonly seq = new Map<Phase, number>();
  /** Milliseconds of every publish call (the api's round trip). */
  readonly callMs: number[] = [];

  constructor(
    private readonly api: string,
    private readonly jwt: string,
    private readonly tenants: readonly string[],
  ) {}

  /** The throughput tenants in turn. */
  nextTenant(): string {
    return this.tenants[this.cursor++ % this.tenants.length];
  }

  async publish(phase: Phase, orgcode: string, count: number): Promise<void> {
    const first = this.seq.get(phase) ?? 0;
    this.seq.set(phase, first + count);
    const sent = Date.now();
    const events = Array.from({ length: count }, (_, k) => {
      const key = `${phase}${first + k}-${sent}`;
      return { event_type: 'rfp.created', logical_guid: key, payload: rfpPayload(key, first + k) };
    });
    const started = performance.now();
    const data = await call<{ stored?: number }>(`${this.api}/ipm/event/publish`, headersFor(this.jwt, orgcode), {
      events,
    });
    this.callMs.push(performance.now() - started);
    if (data.stored !== count) throw new Error(`publish stored ${data.stored} of ${count} events`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (raw) BullMQ + one keep-alive POST per job: the limit.

function postOnce(agent: http.Agent, url: URL, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

interface RawResult {
  jobsPerSecond: number;
  seconds: number;
  failed: number;
}

async function rawLimit(
  redisUrl: string,
  receiver: Receiver,
  secrets: Record<string, string>,
  first: number,
  jobs: number,
  concurrency: number,
  socketsPerOrigin: number,
  fetchers: number,
): Promise<RawResult> {
  const connection = redisOptions(redisUrl);
  const queue = new Queue(RAW_QUEUE, { connection, prefix: QUEUE_PREFIX });
  const agent = new http.Agent({ keepAlive: true, maxSockets: socketsPerOrigin, scheduling: 'lifo' });
  const paths = Object.keys(secrets);
  const keys = paths.map((p) => Buffer.from(secrets[p].slice('whsec_'.length), 'base64'));
  const urls = paths.map((p, i) => new URL(receiver.url(i, p)));
  const workers: Array<Worker<{ n: number }>> = [];
  try {
    for (let i = 0; i < jobs; i += 1000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({
          name: 'raw.send',
          data: { n: first + i + k },
          opts: { ...DEFAULT_JOB_OPTIONS, ...DELIVERY_JOB_OPTIONS, jobId: `raw_${first + i + k}` },
        })),
      );
    }
    let completed = 0;
    let failed = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const started = performance.now();
    // As many BullMQ workers as the engine runs on `delivery` (DELIVERY_FETCHERS), sharing the same concurrency.
    const process = async (job: Job<{ n: number }>): Promise<void> => {
      const { n } = job.data;
      const e = n % paths.length;
      const id = `msg_raw_${n}`;
      const timestamp = Math.floor(Date.now() / 1000);
      const key = `R${n}-${Date.now()}`;
      const body = JSON.stringify({
        type: 'rfp.created',
        timestamp: new Date().toISOString(),
        data: rfpPayload(key, n),
      });
      const mac = createHmac('sha256', keys[e]).update(`${id}.${timestamp}.`).update(body).digest('base64');
      const status = await postOnce(agent, urls[e], body, {
        'user-agent': 'IPM-Webhooks/bench',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': `v1,${mac}`,
      });
      if (status < 200 || status > 299) throw new Error(`receiver answered ${status}`);
    };
    for (let f = 0; f < fetchers; f++) {
      const worker = new Worker<{ n: number }>(RAW_QUEUE, process, {
        connection,
        prefix: QUEUE_PREFIX,
        concurrency: Math.ceil(concurrency / fetchers),
        lockDuration: 30_000,
      });
      worker.on('completed', () => {
        if (++completed + failed === jobs) done();
      });
      worker.on('failed', () => {
        if (completed + ++failed === jobs) done();
      });
      worker.on('error', () => undefined);
      workers.push(worker);
    }
    await finished;
    const seconds = (performance.now() - started) / 1000;
    return { jobsPerSecond: completed / seconds, seconds, failed };
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (1) sustained throughput.

interface ThroughputResult {
  deliveriesPerSecond: number;
  windowSeconds: number;
  windowDeliveries: number;
  /** Deliveries published (events x webhooks per event). */
  published: number;
  /** What PostgreSQL and Redis did during the window. */
  counters: ServerCounters;
  drainMs: number;
}

async function throughput(
  receiver: Receiver,
  publisher: Publisher,
  options: DeliveryBenchOptions,
  perEvent: number,
  sampleCounters: () => Promise<ServerCounters>,
): Promise<ThroughputResult> {
  let published = 0;
  let received = 0;
  let stop = false;
  let failure: Error | undefined;
  const fail = (err: unknown): void => {
    failure ??= err instanceof Error ? err : new Error(String(err));
    stop = true;
  };
  const poller = (async () => {
    while (!stop) {
      received = (await receiver.stats()).phases.T.unique;
      await sleep(100);
    }
  })().catch(fail);
  const loops = Array.from({ length: options.publishers }, async () => {
    while (!stop) {
      if (published - received > MAX_OUTSTANDING) {
        await sleep(10);
        continue;
      }
      published += BATCH * perEvent; // before the await: the other publishers see it at once
      await publisher.publish('T', publisher.nextTenant(), BATCH);
    }
  }).map((loop) => loop.catch(fail));

  const wait = async (ms: number): Promise<void> => {
    const until = performance.now() + ms;
    while (!stop && performance.now() < until) await sleep(Math.min(250, until - performance.now()));
  };
  await wait(WARMUP_MS);
  const countersBefore = await sampleCounters();
  const before = (await receiver.stats()).phases.T.unique;
  const t0 = performance.now();
  await wait(options.seconds * 1000);
  const after = (await receiver.stats()).phases.T.unique;
  const t1 = performance.now();
  const countersAfter = await sampleCounters();
  const stoppedAt = Date.now();
  stop = true;
  await Promise.all([...loops, poller]);
  if (failure) throw failure;
  const drained = await waitForPhase(receiver, 'T', published, DRAIN_TIMEOUT_MS);
  const windowSeconds = (t1 - t0) / 1000;
  return {
    deliveriesPerSecond: (after - before) / windowSeconds,
    windowSeconds,
    windowDeliveries: after - before,
    published,
    drainMs: Math.max(0, drained.phases.T.lastAt - stoppedAt),
    counters: subtract(countersAfter, countersBefore),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// (2) latency at a fixed rate, open loop (a slow publish never delays the next one).

interface LatencyResult {
  /** Deliveries per second. */
  rate: number;
  /** Deliveries published. */
  published: number;
  events: number;
  stats: ReceiverStats;
  callP50: number;
  callP99: number;
}

async function latency(
  receiver: Receiver,
  publisher: Publisher,
  rate: number,
  seconds: number,
  perEvent: number,
): Promise<LatencyResult> {
  const calls: Promise<void>[] = [];
  const callsBefore = publisher.callMs.length;
  let failure: Error | undefined;
  let events = 0;
  const started = performance.now();
  for (let tick = 1; tick * LATENCY_TICK_MS <= seconds * 1000; tick++) {
    const due = Math.floor((rate * tick * LATENCY_TICK_MS) / 1000 / perEvent) - events;
    for (let left = due; left > 0; left -= BATCH) {
      const count = Math.min(BATCH, left);
      events += count;
      calls.push(
        publisher.publish('L', publisher.nextTenant(), count).catch((err: unknown) => {
          failure ??= err instanceof Error ? err : new Error(String(err));
        }),
      );
    }
    const next = started + tick * LATENCY_TICK_MS;
    await sleep(Math.max(0, next - performance.now()));
  }
  await Promise.all(calls);
  if (failure) throw failure;
  const published = events * perEvent;
  await waitForPhase(receiver, 'L', published, DRAIN_TIMEOUT_MS);
  const callMs = publisher.callMs.slice(callsBefore).sort((a, b) => a - b);
  return {
    rate,
    published,
    events,
    stats: await receiver.stats(true),
    callP50: percentile(callMs, 50),
    callP99: percentile(callMs, 99),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// (3) a backlog: published while the worker is stopped, drained by a fresh worker whose RSS is sampled.

/** Publishes `total` events of `phase` in 500-event batches, `publishers` calls at a time; returns the seconds. */
async function publishAll(publisher: Publisher, phase: Phase, total: number, publishers: number): Promise<number> {
  let left = total;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      while (left > 0) {
        const count = Math.min(BATCH, left);
        left -= count;
        await publisher.publish(phase, publisher.nextTenant(), count);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Work counters: the bench database's (pg_stat_database, and pg_stat_user_tables per table) and the Redis server's
 * (INFO stats and commandstats: every client of the server, not only ours).
 */
interface ServerCounters {
  commits: number;
  inserted: number;
  updated: number;
  deleted: number;
  fetched: number;
  redisCommands: number;
  /** `<table> <counter>` -> value (seq_tup_read, idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_del). */
  tables: Record<string, number>;
  /** Redis command -> calls. */
  redis: Record<string, number>;
}

const TABLE_COUNTERS = ['seq_scan', 'seq_tup_read', 'idx_scan', 'idx_tup_fetch', 'n_tup_ins', 'n_tup_upd', 'n_tup_del'];

async function serverCounters(databaseUrl: string, redisUrl: string): Promise<ServerCounters> {
  const client = new Client({ connectionString: databaseUrl });
  const redis = new IORedis(redisUrl);
  try {
    await client.connect();
    const { rows } = await client.query<Omit<ServerCounters, 'redisCommands' | 'tables' | 'redis'>>(
      `SELECT xact_commit::float8 AS commits, tup_inserted::float8 AS inserted, tup_updated::float8 AS updated,
              tup_deleted::float8 AS deleted, tup_fetched::float8 AS fetched
         FROM pg_stat_database WHERE datname = current_database()`,
    );
    const tables: Record<string, number> = {};
    const perTable = await client.query<Record<string, string | null>>(
      `SELECT relname, ${TABLE_COUNTERS.map((c) => `${c}::text`).join(', ')} FROM pg_stat_user_tables`,
    );
    for (const row of perTable.rows) {
      for (const c of TABLE_COUNTERS) tables[`${row.relname} ${c}`] = Number(row[c] ?? 0);
    }
    const stats = await redis.info('stats');
    const commandstats = await redis.info('commandstats');
    const commands: Record<string, number> = {};
    for (const m of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) commands[m[1]] = Number(m[2]);
    return {
      ...rows[0],
      redisCommands: Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0),
      tables,
      redis: commands,
    };
  } finally {
    await client.end();
    redis.disconnect();
  }
}

function subtractMap(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]));
}

function subtract(a: ServerCounters, b: ServerCounters): ServerCounters {
  return {
    commits: a.commits - b.commits,
    inserted: a.inserted - b.inserted,
    updated: a.updated - b.updated,
    deleted: a.deleted - b.deleted,
    fetched: a.fetched - b.fetched,
    redisCommands: a.redisCommands - b.redisCommands,
    tables: subtractMap(a.tables, b.tables),
    redis: subtractMap(a.redis, b.redis),
  };
}

/** Report lines: what PostgreSQL and Redis did per delivery in the throughput window. */
function describeCounters(c: ServerCounters, deliveries: number): string[] {
  const per = (n: number): string => fmt(n / Math.max(1, deliveries), 2);
  const tables = new Map<string, Record<string, number>>();
  for (const [key, value] of Object.entries(c.tables)) {
    const [table, counter] = key.split(' ');
    tables.set(table, { ...tables.get(table), [counter]: value });
  }
  const busiest = [...tables.entries()]
    .map(([table, v]) => ({ table, v, work: (v.seq_tup_read ?? 0) + (v.idx_tup_fetch ?? 0) + (v.n_tup_upd ?? 0) }))
    .filter((t) => t.work > 0)
    .sort((a, b) => b.work - a.work)
    .slice(0, 5);
  const redis = Object.entries(c.redis)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6);
  return [
    `per delivery in the throughput window: ${per(c.commits)} PostgreSQL commits, ${per(c.inserted)} rows inserted, ` +
      `${per(c.updated)} updated, ${per(c.deleted)} deleted, ${per(c.fetched)} fetched; ` +
      `${per(c.redisCommands)} Redis commands (server-wide: other clients of this Redis count too)`,
    ...busiest.map(
      ({ table, v }) =>
        `  ${table}: ${per(v.seq_scan ?? 0)} seq scans reading ${per(v.seq_tup_read ?? 0)} rows, ` +
        `${per(v.idx_scan ?? 0)} index scans fetching ${per(v.idx_tup_fetch ?? 0)} rows, ` +
        `${per(v.n_tup_ins ?? 0)} inserted, ${per(v.n_tup_upd ?? 0)} updated, ${per(v.n_tup_del ?? 0)} deleted`,
    ),
    `  Redis commands: ${redis.map(([cmd, n]) => `${cmd} ${per(n)}`).join(', ')}`,
  ];
}

async function deliveryStatuses(databaseUrl: string): Promise<string> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM deliveries GROUP BY status ORDER BY status',
    );
    return rows.map((r) => `${r.status} ${fmt(r.n)}`).join(', ') || 'none';
  } catch (err) {
    return `(not readable: ${err instanceof Error ? err.message : String(err)})`;
  } finally {
    await client.end();
  }
}

export async function runDeliveryBenchmark(options: DeliveryBenchOptions): Promise<Figure[]> {
  const runStarted = Date.now();
  const apiPort = await freePort();
  const workerPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...benchEnv(DATABASE, QUEUE_PREFIX, apiPort),
    WEBHOOK_TARGET_ALLOWLIST: ALLOWLIST,
    WEBHOOK_MAX_PER_TENANT: String(Math.max(1000, options.fanout)),
    WORKER_PORT: String(workerPort),
  };
  const config = loadConfig(env);
  const databaseUrl = config.DATABASE_URL;
  const concurrency = config.DELIVERY_CONCURRENCY;
  const workerArgs = [
    ...WORKER_NODE_ARGS,
    ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []),
    WORKER_MAIN,
  ];
  if (options.endpoints % options.tenants !== 0) {
    throw new Error(
      `BENCH_DELIVERY_TENANTS (${options.tenants}) must divide BENCH_DELIVERY_ENDPOINTS (${options.endpoints})`,
    );
  }
  const tenants = Array.from({ length: options.tenants }, (_, i) => orgOf(i));
  /** Deliveries per event: the webhooks of its tenant. */
  const perEvent = options.endpoints / options.tenants;
  const backlogEvents = Math.ceil(options.backlog / perEvent);

  await dropDatabase(databaseUrl);
  runCli(['migrate'], env);
  const jwt = runCli(
    ['token', '--org', [...tenants, FAN_ORG].join(','), '--permissions', 'manage_webhooks,publish_events'],
    env,
  );

  let api: Server | undefined;
  let worker: Server | undefined;
  let receiver: Receiver | undefined;
  let sampler: RssSampler | undefined;
  const workerStart = (label: string): Promise<Server> =>
    Server.start(label, workerArgs, env, workerPort, '/health/ready', (child) => {
      sampler?.stop();
      if (child.pid) sampler = new RssSampler(child.pid, `http://127.0.0.1:${workerPort}/metrics`);
    });

  let rawBefore: RawResult;
  let rawAfter: RawResult;
  let counters: ServerCounters;
  let tput: ThroughputResult;
  let lat: LatencyResult;
  let tputRssMb: number;
  let runRssMb: number;
  let runHeap: string;
  let backlogHeap: string;
  let backlogPublishS: number;
  let backlogDrainS: number;
  let backlogRssMb: number;
  let backlogIdleRssMb: number;
  const fanoutSeconds: number[] = [];
  let final: ReceiverStats;
  let statuses: string;
  const expected: Record<Phase, number> = { R: 2 * options.rawJobs, T: 0, L: 0, B: backlogEvents * perEvent, F: 0 };
  try {
    receiver = await Receiver.start(options.receiverPorts);
    api = await Server.start('api-delivery', [API_MAIN], env, apiPort, '/ipm/stat');
    const setupStarted = performance.now();
    receiver.addSecrets(
      await createWebhooks(
        api.baseUrl,
        jwt,
        Array.from({ length: options.endpoints }, (_, i) => ({
          orgcode: tenants[i % tenants.length],
          url: receiver?.url(i, `/t/${i}`) ?? '',
        })),
      ),
    );
    receiver.addSecrets(
      await createWebhooks(
        api.baseUrl,
        jwt,
        Array.from({ length: options.fanout }, (_, i) => ({
          orgcode: FAN_ORG,
          url: receiver?.url(i, `/f/${i}`) ?? '',
        })),
      ),
    );
    const rawSecrets = Object.fromEntries(
      Array.from({ length: options.endpoints }, (_, i) => [`/r/${i}`, `whsec_${randomBytes(32).toString('base64')}`]),
    );
    receiver.addSecrets(rawSecrets);
    const setupS = (performance.now() - setupStarted) / 1000;
    section(
      `delivery: ${options.endpoints} webhooks (rfp.created) in ${options.tenants} tenant(s), so ${perEvent} ` +
        `deliveries per event; a fan-out tenant with ${fmt(options.fanout)} webhooks; created in ${fmt(setupS, 1)} s`,
      [
        `receiver: a child process on ${options.receiverPorts} port(s) of 127.0.0.1 (one origin each), verifying ` +
          'every signature (HMAC-SHA256, node:crypto)',
        `worker: DELIVERY_CONCURRENCY ${concurrency}, RELAY_POLL_MS ${config.RELAY_POLL_MS}, ` +
          `DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT ${config.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT} (not raised: ` +
          `${perEvent} webhooks per event x ${config.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT} = ` +
          `${fmt(perEvent * config.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT)} ` +
          `${perEvent * config.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT >= concurrency ? '>=' : '< (the cap binds!)'} ` +
          `the concurrency)` +
          (options.cpuProfDir ? `; --cpu-prof into ${options.cpuProfDir}` : ''),
      ],
    );

    // (raw) with nothing else running but the idle api; again at the end, and the mean is the limit.
    const rawLine = (when: string, r: RawResult): void =>
      line(
        `(raw, ${when}) ${fmt(options.rawJobs)} BullMQ jobs, concurrency ${concurrency}, each one signed keep-alive ` +
          `POST (${sockets} sockets per origin, as the worker's DeliveryClient): ${fmt(r.jobsPerSecond)} jobs/s in ${fmt(r.seconds, 1)} s` +
          (r.failed ? `, ${r.failed} failed` : ''),
      );
    const sockets = Math.max(config.DELIVERY_CONCURRENCY, config.RETRY_CONCURRENCY); // the engine's sockets per origin
    rawBefore = await rawLimit(
      config.REDIS_URL,
      receiver,
      rawSecrets,
      0,
      options.rawJobs,
      concurrency,
      sockets,
      config.DELIVERY_FETCHERS,
    );
    rawLine('before', rawBefore);

    const publisher = new Publisher(api.baseUrl, jwt, tenants);
    worker = await workerStart('worker-delivery');
    await sleep(1000);
    line(`worker ready and idle: RSS ${fmt(sampler?.lastMb ?? 0)} MB`);

    // (1) sustained throughput
    const sampleCounters = (): Promise<ServerCounters> => serverCounters(databaseUrl, config.REDIS_URL);
    tput = await throughput(receiver, publisher, options, perEvent, sampleCounters);
    counters = tput.counters;
    expected.T = tput.published;
    tputRssMb = sampler?.maxMb ?? 0;
    line(
      `(1) ${fmt(tput.deliveriesPerSecond)} deliveries/s over ${fmt(tput.windowSeconds, 1)} s ` +
        `(${fmt(tput.windowDeliveries)} deliveries after a ${WARMUP_MS / 1000} s warm-up; ${fmt(tput.published)} ` +
        `published in all, at most ${fmt(MAX_OUTSTANDING)} outstanding, the rest delivered ` +
        `${fmt(tput.drainMs / 1000, 1)} s after publishing stopped; worker RSS max ${fmt(tputRssMb)} MB)`,
    );

    // (2) latency at half the sustained rate (at most 1,500/s)
    const rate = Math.max(50, Math.min(MAX_LATENCY_RATE, Math.floor(tput.deliveriesPerSecond / 2)));
    lat = await latency(receiver, publisher, rate, options.latencySeconds, perEvent);
    expected.L = lat.published;
    runRssMb = sampler?.maxMb ?? 0;
    runHeap = sampler?.describeHeap() ?? '';
    const l = lat.stats.phases.L;
    line(
      `(2) ${fmt(rate)} deliveries/s for ${options.latencySeconds} s (${fmt(lat.events)} events, those due ` +
        `published every ${LATENCY_TICK_MS} ms): publish->receive p50 ${fmt(l.p50, 1)} ms, p90 ${fmt(l.p90, 1)} ms, ` +
        `p99 ${fmt(l.p99, 1)} ms, max ${fmt(l.max, 1)} ms (the publish call alone: p50 ${fmt(lat.callP50, 1)} ms, ` +
        `p99 ${fmt(lat.callP99, 1)} ms)`,
    );

    // (3) the backlog
    await worker.stop();
    backlogPublishS = await publishAll(publisher, 'B', backlogEvents, options.publishers);
    const drainStarted = Date.now();
    worker = await workerStart('worker-delivery-backlog');
    const backlog = await waitForPhase(
      receiver,
      'B',
      expected.B,
      Math.max(DRAIN_TIMEOUT_MS, (expected.B / 500) * 1000),
      250,
    );
    backlogDrainS = (backlog.phases.B.lastAt - drainStarted) / 1000;
    backlogRssMb = sampler?.maxMb ?? 0;
    backlogHeap = sampler?.describeHeap() ?? '';
    await sleep(1000);
    backlogIdleRssMb = sampler?.lastMb ?? 0;
    line(
      `(3) ${fmt(expected.B)} deliveries (${fmt(backlogEvents)} events) published in ${fmt(backlogPublishS, 1)} s ` +
        'with the worker stopped; ' +
        `a fresh worker delivered ${fmt(backlog.phases.B.unique)} in ${fmt(backlogDrainS, 1)} s ` +
        `(${fmt(backlog.phases.B.unique / Math.max(0.001, backlogDrainS))}/s, start-up included); ` +
        `RSS max ${fmt(backlogRssMb)} MB (${sampler?.samples ?? 0} samples), ${fmt(backlogIdleRssMb)} MB once idle`,
    );

    // (4) fan-out
    for (let run = 1; run <= FANOUT_RUNS; run++) {
      const sent = Date.now();
      await publisher.publish('F', FAN_ORG, 1);
      expected.F += options.fanout;
      const s = await waitForPhase(receiver, 'F', expected.F, 30_000, 10);
      fanoutSeconds.push(s.phases.F.unique >= expected.F ? (s.phases.F.lastAt - sent) / 1000 : Infinity);
    }
    line(
      `(4) one event to ${fmt(options.fanout)} webhooks, ${FANOUT_RUNS} times: ` +
        fanoutSeconds.map((s) => `${fmt(s, 2)} s`).join(', '),
    );

    final = await receiver.stats();
    await worker.stop(); // drained: every attempt's outcome is written
    statuses = await deliveryStatuses(databaseUrl);
    rawAfter = await rawLimit(
      config.REDIS_URL,
      receiver,
      rawSecrets,
      options.rawJobs,
      options.rawJobs,
      concurrency,
      sockets,
      config.DELIVERY_FETCHERS,
    );
    rawLine('after', rawAfter);
  } finally {
    sampler?.stop();
    await worker?.stop();
    await api?.stop();
    await receiver?.close();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(config.REDIS_URL, QUEUE_PREFIX);
  }

  const lost = (['T', 'L', 'B', 'F'] as const).reduce(
    (sum, p) => sum + Math.max(0, expected[p] - final.phases[p].unique),
    0,
  );
  const duplicates = (['T', 'L', 'B', 'F'] as const).reduce(
    (sum, p) => sum + final.phases[p].duplicateIds + final.phases[p].duplicatePairs,
    0,
  );
  const raw = (rawBefore.jobsPerSecond + rawAfter.jobsPerSecond) / 2;
  const share = (100 * tput.deliveriesPerSecond) / Math.max(1, raw);
  const figures: Figure[] = [
    {
      name: 'delivery throughput, one worker',
      value: tput.deliveriesPerSecond,
      unit: 'deliveries/s',
      bound: 'min',
      target: MIN_DELIVERIES_PER_S,
      raw,
    },
    {
      name: 'delivery throughput vs raw BullMQ + POST',
      value: share,
      unit: '%',
      bound: 'min',
      target: MIN_SHARE_OF_RAW,
    },
    {
      name: `delivery latency p99 at ${fmt(lat.rate)}/s`,
      value: lat.stats.phases.L.p99,
      unit: 'ms',
      bound: 'max',
      target: MAX_LATENCY_P99_MS,
    },
    {
      name: `worker RSS draining ${fmt(options.backlog)}`,
      value: backlogRssMb,
      unit: 'MB',
      bound: 'max',
      target: MAX_WORKER_RSS_MB,
    },
    {
      name: `fan-out to ${fmt(options.fanout)} webhooks (slowest)`,
      value: Math.max(...fanoutSeconds),
      unit: 's',
      bound: 'max',
      target: MAX_FANOUT_S,
    },
    { name: 'delivery invalid signatures', value: final.invalid, unit: 'deliveries', bound: 'max', target: 0 },
    { name: 'deliveries lost', value: lost, unit: 'deliveries', bound: 'max', target: 0 },
  ];
  section(`(delivery) the delivery engine: ${options.seconds} s throughput run, one worker`, [
    `raw limit: ${fmt(raw)} jobs/s (${fmt(rawBefore.jobsPerSecond)} before, ${fmt(rawAfter.jobsPerSecond)} after; BullMQ Queue + ${config.DELIVERY_FETCHERS} Workers (as the engine) in one process, concurrency ${concurrency} in all, ` +
      `one signed keep-alive POST of the same ~1.2 KiB body per job, same receiver); throughput is ` +
      `${fmt(share, 1)} % of it`,
    `sustained: ${fmt(tput.deliveriesPerSecond)} deliveries/s`,
    ...describeCounters(counters, tput.windowDeliveries),
    `latency at ${fmt(lat.rate)}/s: ` +
      `p50 ${fmt(lat.stats.phases.L.p50, 1)} ms, p99 ${fmt(lat.stats.phases.L.p99, 1)} ms`,
    `worker RSS: max ${fmt(runRssMb)} MB in (1)-(2) (${runHeap}), ${fmt(backlogRssMb)} MB draining the backlog ` +
      `(${backlogHeap})`,
    `receiver: ${fmt(final.requests)} requests, ${final.invalid} invalid signatures` +
      (final.invalidSamples.length ? ` (e.g. ${final.invalidSamples.join('; ')})` : '') +
      `, ${fmt(duplicates)} duplicates (same webhook-id, or same endpoint and event twice), ${final.other} other ` +
      `requests, ${fmt(lost)} lost (published, not received within the drain time)`,
    `deliveries rows by status at the end: ${statuses}`,
    `limits: >= ${fmt(MIN_DELIVERIES_PER_S)} deliveries/s and >= ${MIN_SHARE_OF_RAW} % of the raw rate; ` +
      `p99 <= ${MAX_LATENCY_P99_MS} ms at half the sustained rate (at most ${fmt(MAX_LATENCY_RATE)}/s); ` +
      `worker RSS <= ${MAX_WORKER_RSS_MB} MB; fan-out <= ${MAX_FANOUT_S} s; nothing invalid, nothing lost`,
  ]);
  for (const f of figures) line(verdict(f));
  if (options.cpuProfDir) printProfiles(options.cpuProfDir, runStarted);
  return figures;
}

/** The worker's CPU profiles of this run, oldest first: (1)-(2) and the backlog's worker. */
function printProfiles(dir: string, since: number): void {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).mtimeMs >= since)
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  const labels = ['the worker of (1)-(2)', 'the worker of (3)-(4)'];
  files.forEach((file, i) =>
    section(`worker CPU profile, ${labels[i] ?? 'worker'}: ${file}`, summarizeCpuProfile(file)),
  );
}
