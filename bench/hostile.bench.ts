// `npm run bench -- hostile`: a hostile tenant against everyone else (issue 17, point 1). The built api and ONE built
// worker run as child processes against their own database and queue prefix. Phases, in this order:
//   (quiet) QUIET_SECONDS of GET /ipm/stat (unauthenticated: the other tenant) open-loop at STAT_RATE req/s, each
//       latency measured from its scheduled send time -> p50/p99/max;
//   (hostile) `seconds` of the same stat load while the hostile tenant (manage_catalog, publish_events,
//       manage_bulk_jobs), each request bounded by HOSTILE_TIMEOUT_MS and all by the phase's end, stores each
//       hostile kind (POST /event/catalog/upsert with a small specimen its schema accepts), then loops, one request
//       at a time, over a publish of PUBLISH_BATCH hostile payloads per stored type and an upsert of every kind with
//       its hostile payload as the specimen (a type of its own per loop); beside that loop, a bulk import of events
//       every IMPORT_EVERY_MS (create -> PUT upload_url -> commit; per stored type one hostile line and one benign
//       one), so that the WORKER validates them too. Then the api's stat answers and the imports are waited for
//       (at most DRAIN_TIMEOUT_MS).
// The worst event-loop block of each app is read from its own /metrics (prom-client's
// nodejs_eventloop_lag_max_seconds, labelled app="api" or app="worker"), over ONE window: a scrape right before the
// hostile phase (prom-client resets its histogram at every collect) and one after the drain. Not one a second: Node's
// delay histogram drops the first delay after each reset, so a block that starts right after a scrape (e.g. a hostile
// request queued behind it) would go unseen.
// Figures: the other tenant's stat p99 during (hostile) <= 100 ms (raw: its p99 in (quiet)); each app's worst block
// <= 50 ms. Informational: hostile requests by step and status, the types stored, imports and their lines.
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { API_MAIN, benchEnv, freePort, runCli, Server, WORKER_MAIN, WORKER_NODE_ARGS } from './processes';
import { headersFor } from './api-client';
import { Figure, fmt, line, percentile, section, verdict } from './report';

export interface HostileBenchOptions {
  /** Seconds of the hostile phase (BENCH_HOSTILE_SECONDS, default 20). */
  seconds: number;
  /** When set, the api runs with --cpu-prof and writes its profile here (BENCH_HOSTILE_CPU_PROF). */
  cpuProfDir?: string;
}

const QUIET_SECONDS = 5;
/** The other tenant's GET /ipm/stat, requests per second (open loop). */
const STAT_RATE = 200;
const STAT_SOCKETS = 64;
/** A stat request unanswered after this long counts with this latency (and as a timeout). */
const STAT_TIMEOUT_MS = 30_000;
/** Each hostile request gives up after this long (the api may still be busy with it). */
const HOSTILE_TIMEOUT_MS = 30_000;
const IMPORT_EVERY_MS = 1_000;
const PUBLISH_BATCH = 2;
/** After the phase: waiting for the api to answer stat again and for the imports to finish. */
const DRAIN_TIMEOUT_MS = 60_000;
const SCRAPE_TIMEOUT_MS = 180_000;
const STAT_P99_TARGET_MS = 100;
const BLOCK_TARGET_MS = 50;

const DATABASE = 'ipm_bench_hostile';
const QUEUE_PREFIX = 'ipm-bench-hostile';
const ORG = 'hostile';
const SERVICE = 'hostile';

// ---------------------------------------------------------------------------------------------------------------
// What the hostile tenant sends. Sizes chosen so that, validated by a backtracking engine and plain Ajv, each costs
// about a second (uniqueItems: ~7 s, as in the issue; compiling the 100,000-value enum: longer) on this machine.

type Json = Record<string, unknown>;

interface HostileKind {
  /** The event type's action (service `hostile`). */
  action: string;
  schema: Json;
  /** A small specimen the schema accepts: the upsert that stores the type. */
  benign: Json;
  /** A payload crafted to be expensive; also sent as a specimen, to a type of its own, on every loop. */
  hostile: Json;
}

function patternKind(action: string, pattern: string, benign: string, hostile: string): HostileKind {
  return {
    action,
    schema: { type: 'object', properties: { s: { type: 'string', pattern } } },
    benign: { s: benign },
    hostile: { s: hostile },
  };
}

/** d0 a string; d(k) = anyOf [ allOf [d(k-1), not {}], d(k-1) ]: 2^depth checks of one value, no error kept. */
function nestedAnyOf(depth: number): Json {
  const definitions: Json = { d0: { type: 'string' } };
  for (let k = 1; k <= depth; k++) {
    const inner = { $ref: `#/definitions/d${k - 1}` };
    definitions[`d${k}`] = { anyOf: [{ allOf: [inner, { not: {} }] }, inner] };
  }
  return { definitions, type: 'object', properties: { v: { $ref: `#/definitions/d${depth}` } } };
}

/** A node whose child is checked twice (anyOf of itself with an impossible `required`): 2^depth of the data. */
const RECURSIVE_REF: Json = {
  definitions: {
    node: {
      type: 'object',
      properties: {
        c: {
          anyOf: [{ allOf: [{ $ref: '#/definitions/node' }, { required: ['never'] }] }, { $ref: '#/definitions/node' }],
        },
      },
    },
  },
  $ref: '#/definitions/node',
};

function nested(depth: number): Json {
  let node: Json = {};
  for (let i = 0; i < depth; i++) node = { c: node };
  return node;
}

function hostileKinds(): HostileKind[] {
  return [
    // Patterns: catastrophic backtracking, each doubling (or x1.6) per letter; a linear engine may store some.
    patternKind('pattern_nested_plus', '^(a+)+$', 'aaaa', `${'a'.repeat(27)}!`),
    patternKind('pattern_same_alternatives', '^(a|a)*$', 'aaaa', `${'a'.repeat(26)}!`),
    patternKind('pattern_overlapping_alternatives', '^(a|aa)+$', 'aaaa', `${'a'.repeat(36)}!`),
    patternKind('pattern_unanchored', '(x+x+)+y', 'xxy', 'x'.repeat(26)),
    {
      // Ajv compares objects pairwise: 18,000 distinct ones (~200 KB) are 162 million deep comparisons.
      action: 'unique_items_objects',
      schema: {
        type: 'object',
        properties: { items: { type: 'array', uniqueItems: true, items: { type: 'object' } } },
      },
      benign: { items: [{ k: 0 }, { k: 1 }] },
      hostile: { items: Array.from({ length: 18_000 }, (_, k) => ({ k })) },
    },
    { action: 'recursive_ref', schema: RECURSIVE_REF, benign: nested(2), hostile: nested(24) },
    {
      // Cheap per value in Ajv, but float division fails most of these (one error each).
      action: 'multiple_of_float',
      schema: { type: 'object', properties: { f: { type: 'array', items: { type: 'number', multipleOf: 0.0001 } } } },
      benign: { f: [0.5] },
      hostile: { f: Array.from({ length: 5_000 }, (_, k) => k * 0.00013 + 0.00001) },
    },
    { action: 'nested_any_of', schema: nestedAnyOf(26), benign: {}, hostile: { v: 'x' } },
    {
      // Last (see HostileTenant.run): compiling it takes Ajv seconds to a minute. 100,000 values scanned per item;
      // only 20 items, since today each failing item's error message carries the whole enum (~590 KB).
      action: 'enum_huge',
      schema: {
        type: 'object',
        properties: { list: { type: 'array', items: { enum: Array.from({ length: 100_000 }, (_, k) => k) } } },
      },
      benign: { list: [1, 2] },
      hostile: { list: Array.from({ length: 20 }, () => -1) },
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// The hostile tenant.

/** Status codes (or `timeout`, `error`) seen, by step. */
class Tally {
  readonly byStep = new Map<string, Map<string, number>>();

  add(step: string, outcome: string): void {
    const counts = this.byStep.get(step) ?? new Map<string, number>();
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    this.byStep.set(step, counts);
  }

  get total(): number {
    let n = 0;
    for (const counts of this.byStep.values()) for (const c of counts.values()) n += c;
    return n;
  }

  lines(): string[] {
    return [...this.byStep].map(
      ([step, counts]) =>
        `${step}: ${[...counts]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([outcome, n]) => `${outcome} x${fmt(n)}`)
          .join(', ')}`,
    );
  }
}

interface Answer {
  /** The status code, or `timeout` / `aborted` / `error`. */
  outcome: string;
  json?: { data?: unknown };
}

class HostileTenant {
  readonly tally = new Tally();
  readonly stored: HostileKind[] = [];
  readonly importJobs: string[] = [];
  loops = 0;

  constructor(
    private readonly api: string,
    private readonly headers: Record<string, string>,
    private readonly kinds: HostileKind[],
    private readonly phase: AbortSignal,
  ) {}

  /** One request, bounded by HOSTILE_TIMEOUT_MS and the phase; its outcome tallied under `step`. */
  private async send(step: string, path: string, body: string, init: RequestInit = {}): Promise<Answer> {
    if (this.phase.aborted) return { outcome: 'aborted' };
    let answer: Answer;
    try {
      const res = await fetch(this.api + path, {
        method: 'POST',
        headers: this.headers,
        body,
        ...init,
        signal: AbortSignal.any([AbortSignal.timeout(HOSTILE_TIMEOUT_MS), this.phase]),
      });
      const text = await res.text();
      let json: Answer['json'];
      try {
        json = JSON.parse(text) as Answer['json'];
      } catch {
        json = undefined;
      }
      answer = { outcome: String(res.status), json };
    } catch (err) {
      const name = err instanceof Error ? err.name : '';
      answer = { outcome: this.phase.aborted ? 'aborted' : name === 'TimeoutError' ? 'timeout' : 'error' };
    }
    if (answer.outcome !== 'aborted') this.tally.add(step, answer.outcome);
    return answer;
  }

  private upsertBody(kind: HostileKind, action: string, specimen: Json): string {
    return JSON.stringify({
      service: SERVICE,
      action,
      description: `hostile: ${kind.action}`,
      schema: kind.schema,
      specimen,
    });
  }

  /**
   * Stores each kind with a specimen its schema accepts (the ones stored get hostile publishes and import lines),
   * commits a first import, then, until the phase ends, loops over publishes and hostile-specimen upserts while
   * another lane imports every IMPORT_EVERY_MS. The last kind (the huge enum, whose compilation alone blocks the
   * api for a minute today) is stored after the first import, so that the worker gets hostile lines regardless.
   */
  async run(): Promise<void> {
    for (const kind of this.kinds.slice(0, -1)) await this.store(kind);
    await this.importOnce();
    const imports = this.importLane();
    await this.store(this.kinds[this.kinds.length - 1]);
    await this.loop();
    await imports;
  }

  private async store(kind: HostileKind): Promise<void> {
    const answer = await this.send(
      'upsert, small specimen',
      '/ipm/event/catalog/upsert',
      this.upsertBody(kind, kind.action, kind.benign),
    );
    if (answer.outcome === '200') this.stored.push(kind);
  }

  private async loop(): Promise<void> {
    const publishBodies = this.stored.map((kind) =>
      JSON.stringify({
        events: Array.from({ length: PUBLISH_BATCH }, () => ({
          event_type: `${SERVICE}.${kind.action}`,
          payload: kind.hostile,
        })),
      }),
    );
    while (!this.phase.aborted) {
      for (const body of publishBodies) await this.send('publish', '/ipm/event/publish', body);
      for (const kind of this.kinds) {
        await this.send(
          'upsert, hostile specimen',
          '/ipm/event/catalog/upsert',
          this.upsertBody(kind, `${kind.action}_${this.loops}`, kind.hostile),
        );
      }
      this.loops++;
    }
  }

  private async importLane(): Promise<void> {
    while (!this.phase.aborted) {
      const started = performance.now();
      await this.importOnce();
      try {
        await sleep(Math.max(0, started + IMPORT_EVERY_MS - performance.now()), undefined, { signal: this.phase });
      } catch {
        return; // the phase ended
      }
    }
  }

  /** Per stored type, one line with its hostile payload and one with its small specimen. */
  private importFile(): string {
    return this.stored
      .flatMap((kind) => [
        JSON.stringify({ event_type: `${SERVICE}.${kind.action}`, payload: kind.hostile }),
        JSON.stringify({ event_type: `${SERVICE}.${kind.action}`, payload: kind.benign }),
      ])
      .map((l) => `${l}\n`)
      .join('');
  }

  private async importOnce(): Promise<void> {
    if (!this.stored.length) return;
    type Job = { job?: { job_id?: string; revision?: string }; upload_url?: string };
    const created = await this.send(
      'import create',
      '/ipm/bulk/import/create',
      JSON.stringify({ target: 'events', format: 'ndjson' }),
    );
    const url = (created.json?.data as Job | undefined)?.upload_url;
    if (created.outcome !== '200' || !url) return;
    const put = await this.send('import upload', url, this.importFile(), {
      method: 'PUT',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    const job = (put.json?.data as Job | undefined)?.job;
    if (put.outcome !== '200' || !job?.job_id) return;
    const commit = await this.send(
      'import commit',
      '/ipm/bulk/import/commit',
      JSON.stringify({ job_id: job.job_id, expected_revision: job.revision }),
    );
    if (commit.outcome === '200') this.importJobs.push(job.job_id);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The other tenant: GET /ipm/stat, open loop.

interface StatResult {
  /** Ascending, ms from each request's scheduled send time to its answer (or its timeout). */
  latencies: number[];
  non200: number;
  timeouts: number;
}

class StatProbe {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: STAT_SOCKETS });

  constructor(private readonly url: string) {}

  /** `rate` requests/s for `seconds`; resolves once every one has an answer or has timed out. */
  async run(seconds: number): Promise<StatResult> {
    const latencies: number[] = [];
    const result: StatResult = { latencies, non200: 0, timeouts: 0 };
    const pending: Promise<void>[] = [];
    const started = performance.now();
    const total = Math.round(STAT_RATE * seconds);
    for (let k = 0; k < total; k++) {
      const due = started + (k * 1000) / STAT_RATE;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      pending.push(this.one(due, result));
    }
    await Promise.all(pending);
    latencies.sort((a, b) => a - b);
    return result;
  }

  private one(due: number, result: StatResult): Promise<void> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (status: number | 'timeout' | 'error'): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        result.latencies.push(performance.now() - due);
        if (status === 'timeout') result.timeouts++;
        else if (status !== 200) result.non200++;
        resolve();
      };
      const req = http.get(this.url, { agent: this.agent }, (res) => {
        res.resume();
        res.once('end', () => settle(res.statusCode ?? 0));
        res.once('error', () => settle('error'));
      });
      req.once('error', () => settle('error'));
      const timer = setTimeout(() => {
        settle('timeout');
        req.destroy();
      }, STAT_TIMEOUT_MS);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function describeStat(r: StatResult): string {
  return (
    `${fmt(r.latencies.length)} requests: p50 ${fmt(percentile(r.latencies, 50, NaN), 1)} ms, ` +
    `p99 ${fmt(percentile(r.latencies, 99, NaN), 1)} ms, max ${fmt(r.latencies.at(-1) ?? NaN, 1)} ms; ` +
    `${fmt(r.non200)} not 200, ${fmt(r.timeouts)} timed out (${STAT_TIMEOUT_MS / 1000} s)`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Event-loop lag, from each app's /metrics.

interface Lag {
  /** nodejs_eventloop_lag_max_seconds, in ms: the worst block of the window. */
  maxMs: number;
  p99Ms: number;
  /** No scrape answered within SCRAPE_TIMEOUT_MS: maxMs is then that wait (the app answered nothing meanwhile). */
  timedOut: boolean;
  /** Why the scrape failed (maxMs and p99Ms are then NaN). */
  failure?: string;
}

function sampleMs(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]) * 1000;
}

/**
 * Scrapes `server`'s /metrics (which closes prom-client's window and opens the next), retrying refused or timed-out
 * connections (a blocked app accepts none once its backlog is full) until SCRAPE_TIMEOUT_MS.
 */
async function scrapeLag(server: Server): Promise<Lag> {
  const url = `${server.baseUrl}/metrics`;
  const started = performance.now();
  const deadline = started + SCRAPE_TIMEOUT_MS;
  for (;;) {
    try {
      const res = await fetch(url, {
        signal: AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now()))),
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
      return {
        maxMs: sampleMs(text, 'nodejs_eventloop_lag_max_seconds'),
        p99Ms: sampleMs(text, 'nodejs_eventloop_lag_p99_seconds'),
        timedOut: false,
      };
    } catch (err) {
      const { exitCode, signalCode } = server.child;
      const exited = exitCode !== null || signalCode !== null;
      if (!exited && performance.now() < deadline - 1000) {
        await sleep(1000);
        continue;
      }
      if (!exited) return { maxMs: performance.now() - started, p99Ms: NaN, timedOut: true };
      const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
      return {
        maxMs: NaN,
        p99Ms: NaN,
        timedOut: false,
        failure: `${err instanceof Error ? err.message : String(err)}${cause}; it exited (${signalCode ?? exitCode})`,
      };
    }
  }
}

function describeLag(app: string, quiet: Lag, hostile: Lag): string {
  if (hostile.failure) return `${app} event loop: /metrics failed after the hostile phase: ${hostile.failure}`;
  const bound = hostile.timedOut ? ` (at least: no /metrics answer within ${SCRAPE_TIMEOUT_MS / 1000} s)` : '';
  return (
    `${app} event loop: worst block ${fmt(hostile.maxMs, 1)} ms${bound}, p99 ${fmt(hostile.p99Ms, 1)} ms ` +
    `over the hostile phase and drain; quiet phase: worst ${fmt(quiet.maxMs, 1)} ms, p99 ${fmt(quiet.p99Ms, 1)} ms`
  );
}

// ---------------------------------------------------------------------------------------------------------------

/** Until the api answers stat at once again and no import of the tenant is queued or running (bounded). */
async function drain(api: Server, db: Client): Promise<number> {
  const started = performance.now();
  const deadline = started + DRAIN_TIMEOUT_MS;
  while (performance.now() < deadline && api.child.exitCode === null && api.child.signalCode === null) {
    const asked = performance.now();
    const answered = await fetch(`${api.baseUrl}/ipm/stat`, {
      signal: AbortSignal.timeout(Math.max(1, Math.round(deadline - asked))),
    }).then(
      (res) => res.status === 200,
      () => false,
    );
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM bulk_jobs WHERE orgcode = $1 AND status IN ('queued', 'running')`,
      [ORG],
    );
    if (answered && performance.now() - asked < 100 && rows[0]?.n === 0) break;
    await sleep(250);
  }
  return (performance.now() - started) / 1000;
}

async function importSummary(db: Client, committed: number): Promise<string> {
  const jobs = await db.query<{ status: string; n: number; processed: number; succeeded: number; failed: number }>(
    `SELECT status, count(*)::int AS n, coalesce(sum(processed), 0)::int AS processed,
            coalesce(sum(succeeded), 0)::int AS succeeded, coalesce(sum(failed), 0)::int AS failed
       FROM bulk_jobs WHERE orgcode = $1 AND job_type = 'import' AND status <> 'awaiting_upload'
      GROUP BY status ORDER BY status`,
    [ORG],
  );
  const events = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [ORG]);
  const byStatus =
    jobs.rows
      .map(
        (r) =>
          `${r.status} ${fmt(r.n)} (${fmt(r.processed)} lines: ${fmt(r.succeeded)} imported, ${fmt(r.failed)} refused)`,
      )
      .join(', ') || 'none';
  return `imports: ${fmt(committed)} committed; ${byStatus}; ${fmt(events.rows[0]?.n ?? 0)} events stored in the tenant`;
}

export async function runHostileTenantBenchmark(options: HostileBenchOptions): Promise<Figure[]> {
  const seconds = options.seconds > 0 ? options.seconds : 20;
  const apiPort = await freePort();
  const workerPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...benchEnv(DATABASE, QUEUE_PREFIX, apiPort), WORKER_PORT: String(workerPort) };
  const config = loadConfig(env);
  const databaseUrl = config.DATABASE_URL;

  await dropDatabase(databaseUrl);
  runCli(['migrate'], env);
  const jwt = runCli(
    ['token', '--org', ORG, '--permissions', 'manage_catalog,publish_events,manage_bulk_jobs', '--sub', 'hostile'],
    env,
  );
  const headers = headersFor(jwt, ORG);
  const kinds = hostileKinds();

  let api: Server | undefined;
  let worker: Server | undefined;
  let probe: StatProbe | undefined;
  const db = new Client({ connectionString: databaseUrl });
  let quietStat: StatResult;
  let hostileStat: StatResult;
  let quietLag: { api: Lag; worker: Lag };
  let hostileLag: { api: Lag; worker: Lag };
  let tenant: HostileTenant;
  let drainSeconds: number;
  let imports: string;
  try {
    const prof = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
    api = await Server.start('api-hostile', [...prof, API_MAIN], env, apiPort, '/ipm/stat');
    worker = await Server.start('worker-hostile', [...WORKER_NODE_ARGS, WORKER_MAIN], env, workerPort, '/health/ready');
    await db.connect();
    probe = new StatProbe(`${api.baseUrl}/ipm/stat`);
    section(
      `hostile tenant: ${kinds.length} costly schemas (${kinds.map((k) => k.action).join(', ')}) upserted, ` +
        `published (one request at a time) and imported (every ${IMPORT_EVERY_MS / 1000} s) for ${seconds} s, each ` +
        `request bounded by ${HOSTILE_TIMEOUT_MS / 1000} s; meanwhile GET /ipm/stat at ${STAT_RATE} req/s, open loop`,
    );

    // (quiet)
    await probe.run(1); // warm-up
    await Promise.all([scrapeLag(api), scrapeLag(worker)]);
    quietStat = await probe.run(QUIET_SECONDS);
    const [quietApi, quietWorker] = await Promise.all([scrapeLag(api), scrapeLag(worker)]);
    quietLag = { api: quietApi, worker: quietWorker };
    line(`(quiet) stat: ${describeStat(quietStat)}`);
    // Past the first delay after the reset, which Node's histogram drops.
    await sleep(100);

    // (hostile)
    const phase = new AbortController();
    const timer = setTimeout(() => phase.abort(), seconds * 1000);
    tenant = new HostileTenant(api.baseUrl, headers, kinds, phase.signal);
    const hostile = tenant.run();
    hostileStat = await probe.run(seconds);
    await hostile;
    clearTimeout(timer);
    line(`(hostile) stat: ${describeStat(hostileStat)}`);
    drainSeconds = await drain(api, db);
    const [hostileApi, hostileWorker] = await Promise.all([scrapeLag(api), scrapeLag(worker)]);
    hostileLag = { api: hostileApi, worker: hostileWorker };
    imports = await importSummary(db, tenant.importJobs.length);
  } finally {
    probe?.close();
    await db.end().catch(() => undefined);
    await worker?.stop();
    await api?.stop();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(config.REDIS_URL, QUEUE_PREFIX);
  }

  const figures: Figure[] = [
    {
      name: 'hostile tenant: other GET /ipm/stat p99',
      value: percentile(hostileStat.latencies, 99, Infinity),
      unit: 'ms',
      bound: 'max',
      target: STAT_P99_TARGET_MS,
      raw: percentile(quietStat.latencies, 99, Infinity),
    },
    {
      name: 'hostile tenant: api worst event-loop block',
      value: hostileLag.api.maxMs,
      unit: 'ms',
      bound: 'max',
      target: BLOCK_TARGET_MS,
    },
    {
      name: 'hostile tenant: worker worst event-loop block',
      value: hostileLag.worker.maxMs,
      unit: 'ms',
      bound: 'max',
      target: BLOCK_TARGET_MS,
    },
  ];
  const storedNames = tenant.stored.map((k) => k.action);
  section(`(hostile) one tenant's costly schemas, payloads and imports for ${seconds} s`, [
    `other tenant's GET /ipm/stat, (quiet) ${describeStat(quietStat)}`,
    `                              (hostile) ${describeStat(hostileStat)}`,
    describeLag('api', quietLag.api, hostileLag.api),
    describeLag('worker', quietLag.worker, hostileLag.worker),
    `hostile requests: ${fmt(tenant.tally.total)} answered or timed out (${HOSTILE_TIMEOUT_MS / 1000} s) in ` +
      `${fmt(tenant.loops)} loops; drained ${fmt(drainSeconds, 1)} s after the phase`,
    ...tenant.tally.lines().map((l) => `  ${l}`),
    `types stored (${storedNames.length} of ${kinds.length}): ${storedNames.join(', ') || 'none'}`,
    imports,
    `limits: stat p99 <= ${STAT_P99_TARGET_MS} ms; each app's worst event-loop block <= ${BLOCK_TARGET_MS} ms`,
  ]);
  for (const f of figures) line(verdict(f));
  return figures;
}
