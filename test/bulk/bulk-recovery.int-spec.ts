import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { loadConfig } from '@ipm/core';
import { runMigrations } from '@ipm/persistence';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { BUILD_TIMEOUT_MS, ensureWorkerBuilt, spawnWorker } from '../support/built-worker';
import { dropDatabase } from '../support/cleanup';
import { waitFor } from '../support/wait';

// An events import interrupted twice over, by the real worker binary: SIGKILLed mid-file (a new
// worker takes the job over), and cancelled mid-file then continued. Either way the counts are
// exact, each bad line is reported once, and each good event is stored once.
//
// This file runs on a database of its own (dropped at the end), so that the killed worker's
// half-done work, its sweeper and its outbox relay see only what these tests made, and nothing that
// other spec files running at the same time leave in the run's database.
const RUN = process.env.IPM_TEST_RUN_ID ?? `local_${Date.now().toString(36)}`;
const DATABASE_URL = ((): string => {
  const url = new URL(loadConfig(process.env).DATABASE_URL);
  url.pathname = `/ipm_test_${RUN}_bulkrecovery`;
  return url.toString();
})();
process.env.DATABASE_URL = DATABASE_URL;
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:bulkrecovery`;

const CHUNK_LINES = 200;
const WORKER_ENV = (): NodeJS.ProcessEnv => ({
  ...process.env,
  WORKER_PORT: '0',
  LOG_LEVEL: 'warn',
  NO_COLOR: '1',
  BULK_CHUNK_LINES: String(CHUNK_LINES), // 100+ chunk transactions per file
  QUEUE_LOCK_MS: '2000', // a killed worker's job stalls back to the queue after ~2 s
  SWEEPER_INTERVAL_MS: '500',
  SWEEPER_GRACE_MS: '2000',
  SHUTDOWN_TIMEOUT_MS: '2000',
});

const GOOD = 20_000;

interface BadLine {
  /** The line as written, or `repeats`: the good event of that number again. */
  text?: string;
  repeats?: number;
  error: RegExp;
}

/** The bad lines, by 1-based line number of the file; every other line is a good event. */
const BAD: ReadonlyMap<number, BadLine> = new Map([
  [150, { text: '{"event_type": "rfp.created", "payload": ', error: /^malformed JSON: / }],
  [
    3_333,
    {
      text: JSON.stringify({ event_type: 'rfp.created', event_id: 'BAD-schema', payload: { rfp_id: 'only-id' } }),
      error: /^payload does not match rfp\.created v1: .*required property 'title'/,
    },
  ],
  [8_000, { text: '["not", "an", "object"]', error: /^expected a JSON object, got an array$/ }],
  // A repeat of a good event from the first chunk, and one of an event from the middle of the file:
  // "already stored", as a good line of a chunk applied twice would be (so that would show as extra failures).
  [12_345, { repeats: 5, error: /^duplicate event_id [A-Z]+-5: already stored/ }],
  [
    15_001,
    {
      text: JSON.stringify({ event_type: 'rfp.created', event_id: 'BAD-prop', payload: {}, colour: 'red' }),
      error: /property colour should not exist/,
    },
  ],
  [GOOD + 6, { repeats: 10_000, error: /^duplicate event_id [A-Z]+-10000: already stored/ }],
]);
const TOTAL = GOOD + BAD.size;

/** Good event `n` (1-based) of a file; `tag` keeps the two tests' event ids apart. */
function goodEvent(tag: string, n: number): string {
  return JSON.stringify({
    event_type: 'rfp.created',
    event_id: `${tag}-${n}`,
    payload: { rfp_id: `R-${n}`, title: 'Recovery', buyer: { org_id: 'O', name: 'N' }, status: 'open' },
  });
}

/** The file: GOOD good events with the BAD lines at their line numbers. */
function importFile(tag: string): { body: string; goodIds: string[] } {
  const lines: string[] = [];
  const goodIds: string[] = [];
  for (let line = 1; line <= TOTAL; line++) {
    const bad = BAD.get(line);
    if (bad) {
      lines.push(bad.repeats === undefined ? (bad.text ?? '') : goodEvent(tag, bad.repeats));
    } else {
      goodIds.push(`${tag}-${goodIds.length + 1}`);
      lines.push(goodEvent(tag, goodIds.length));
    }
  }
  return { body: `${lines.join('\n')}\n`, goodIds };
}

interface Job {
  job_id: string;
  status: string;
  /** As the API shows it (absent from `row()`). */
  revision?: string;
  processed: number;
  succeeded: number;
  failed: number;
  total_lines: number | null;
  last_processed_line: number;
}

describe('bulk import recovery (built worker processes, real PostgreSQL and Redis)', () => {
  let api: TestApi;
  let db: DataSource;
  const workers: Array<{ child: ChildProcess; output: () => string }> = [];

  beforeAll(async () => {
    ensureWorkerBuilt();
    await runMigrations(loadConfig(process.env));
    api = await startApi();
    db = api.app.get(DataSource);
  }, BUILD_TIMEOUT_MS);

  afterEach(async () => {
    for (const { child } of workers.splice(0)) await stop(child, 'SIGTERM');
  });

  afterAll(async () => {
    await api?.close();
    await dropDatabase(DATABASE_URL);
  });

  function startWorker(): ChildProcess {
    const worker = spawnWorker(WORKER_ENV());
    workers.push(worker);
    return worker.child;
  }

  async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** What the workers printed, for a failure message. */
  const workerOutput = (): string => workers.map((w) => w.output()).join('\n---\n');

  /** A tenant allowed to import events, and a way to call its /bulk routes. */
  async function tenant(label: string) {
    const org = uniqueOrg(label);
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_bulk_jobs', 'publish_events'] });
    const post = (route: string, body: Record<string, unknown>) =>
      api.http().post(`/ipm/bulk/${route}`).set(bearer(jwt)).set('x-orgcode', org).send(body);
    const get = async (jobId: string): Promise<{ job: Job; report_url?: string }> =>
      (await post('job/get', { job_id: jobId }).expect(200)).body.data as { job: Job; report_url?: string };
    return { org, post, get };
  }
  type Tenant = Awaited<ReturnType<typeof tenant>>;

  /** Creates the import, uploads the file through its URL and commits it; returns the job id. */
  async function commitImport(t: Tenant, body: string): Promise<string> {
    const created = await t.post('import/create', { target: 'events', format: 'ndjson' }).expect(200);
    const { job, upload_url } = created.body.data as { job: Job; upload_url: string };
    const upload = await api.http().put(upload_url).set('content-type', 'application/x-ndjson').send(body).expect(200);
    const revision = (upload.body.data.job as Job).revision;
    await t.post('import/commit', { job_id: job.job_id, expected_revision: revision }).expect(200);
    return job.job_id;
  }

  /** Polls /bulk/job/get as fast as it answers until `processed` reaches 20% of the file; fails past 80%. */
  async function midway(t: Tenant, jobId: string): Promise<Job> {
    const job = await waitFor(
      'the import to be 20% through',
      async () => {
        const { job: j } = await t.get(jobId);
        return j.processed >= TOTAL * 0.2 ? j : undefined;
      },
      30_000,
    );
    if (job.processed > TOTAL * 0.8 || job.status !== 'running') {
      throw new Error(`missed the middle of the import: ${job.status}, ${job.processed} of ${TOTAL} lines processed`);
    }
    return job;
  }

  async function finished(t: Tenant, jobId: string, timeoutMs: number): Promise<{ job: Job; report_url?: string }> {
    return waitFor(
      'the import to finish',
      async () => {
        const detail = await t.get(jobId);
        return ['completed', 'completed_with_errors', 'failed'].includes(detail.job.status) ? detail : undefined;
      },
      timeoutMs,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nworker output:\n${workerOutput()}`);
    });
  }

  /** The job's row as PostgreSQL has it. */
  async function row(jobId: string): Promise<Job> {
    const [job] = await db.query<Job[]>(
      `SELECT job_id, status, processed, succeeded, failed, total_lines, last_processed_line
         FROM bulk_jobs WHERE job_id = $1`,
      [jobId],
    );
    return job;
  }

  /** The tenant's imported events (not its platform events), with how often each event_id is stored. */
  async function storedEvents(org: string, tag: string): Promise<Map<string, number>> {
    const rows = await db.query<Array<{ event_id: string; n: number }>>(
      `SELECT event_id, count(*)::int AS n FROM events WHERE orgcode = $1 AND event_id LIKE $2 GROUP BY event_id`,
      [org, `${tag}-%`],
    );
    return new Map(rows.map((r) => [r.event_id, r.n]));
  }

  /** Samples the checkpoint every few milliseconds until stopped; returns every value seen, in order. */
  function watchCheckpoint(jobId: string): { stop: () => Promise<number[]> } {
    const seen: number[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const [r] = await db.query<Array<{ line: number }>>(
          'SELECT last_processed_line AS line FROM bulk_jobs WHERE job_id = $1',
          [jobId],
        );
        if (r) seen.push(r.line);
        await sleep(5);
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return seen;
      },
    };
  }

  /** Exact counts, the report (each bad line once, nothing else) and the events table (each good event once). */
  async function expectExact(
    t: Tenant,
    detail: { job: Job; report_url?: string },
    tag: string,
    goodIds: string[],
  ): Promise<void> {
    expect(detail.job).toMatchObject({
      status: 'completed_with_errors',
      total_lines: TOTAL,
      processed: TOTAL,
      succeeded: GOOD,
      failed: BAD.size,
      last_processed_line: TOTAL,
    });

    expect(detail.report_url).toBeDefined();
    const res = await api
      .http()
      .get(detail.report_url as string)
      .buffer(true)
      .parse((r, callback) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => callback(null, Buffer.concat(chunks)));
      })
      .expect(200);
    const raw = res.body as Buffer;
    const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
    const entries = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; error: string });
    expect(entries.map((e) => e.line)).toEqual([...BAD.keys()]);
    for (const entry of entries) expect(entry.error).toMatch((BAD.get(entry.line) as BadLine).error);

    const stored = await storedEvents(t.org, tag);
    expect([...stored.values()].filter((n) => n !== 1)).toEqual([]); // no duplicate
    expect(goodIds.filter((id) => !stored.has(id))).toEqual([]); // none missing
    expect(stored.size).toBe(GOOD); // nothing else
  }

  it('a worker SIGKILLed mid-import: a new worker resumes from the checkpoint, exact counts, no duplicates', async () => {
    const t = await tenant('bulkkill');
    const { body, goodIds } = importFile('KILL');
    const first = startWorker();
    const jobId = await commitImport(t, body);
    const watch = watchCheckpoint(jobId);

    const atKill = await midway(t, jobId);
    await stop(first, 'SIGKILL');
    // Dead mid-file: PostgreSQL still says running, with a checkpoint inside the file, and every
    // committed chunk's events are there (they commit with the checkpoint and counters, or not at all).
    const dead = await row(jobId);
    expect(dead.status).toBe('running');
    expect(dead.last_processed_line).toBeGreaterThanOrEqual(atKill.last_processed_line);
    expect(dead.last_processed_line).toBeLessThan(TOTAL);
    expect(dead.processed).toBe(dead.last_processed_line);
    const storedAtKill = [...(await storedEvents(t.org, 'KILL')).values()].reduce((a, b) => a + b, 0);
    const badSoFar = [...BAD.keys()].filter((line) => line <= dead.last_processed_line).length;
    expect({ stored: storedAtKill, failed: dead.failed }).toEqual({
      stored: dead.succeeded,
      failed: badSoFar,
    });

    startWorker();
    const done = await finished(t, jobId, 40_000);
    const checkpoints = await watch.stop();
    await expectExact(t, done, 'KILL', goodIds);
    // The checkpoint only ever moved forward, and the new worker went on from where the first stopped.
    expect(checkpoints).toEqual([...checkpoints].sort((a, b) => a - b));
    expect(checkpoints).toContain(dead.last_processed_line);
  }, 90_000);

  it('cancel mid-import, then continue: completes with exact counts, no duplicates, checkpoint never backwards', async () => {
    const t = await tenant('bulkcancel');
    const { body, goodIds } = importFile('CANCEL');
    startWorker();
    const jobId = await commitImport(t, body);
    const watch = watchCheckpoint(jobId);

    await midway(t, jobId);
    const cancelled = await t.post('job/cancel', { job_id: jobId }).expect(200);
    expect((cancelled.body.data.job as Job).status).toBe('cancelled');
    // The worker stops at its next chunk: the counters then stay put.
    let last = await row(jobId);
    await waitFor(
      'the worker to stop',
      async () => {
        await sleep(500);
        const now = await row(jobId);
        const stable = now.processed === last.processed && now.last_processed_line === last.last_processed_line;
        last = now;
        return stable ? now : undefined;
      },
      10_000,
    );
    expect(last.status).toBe('cancelled');
    expect(last.last_processed_line).toBeLessThan(TOTAL);
    expect(last.processed).toBe(last.last_processed_line);
    const storedAtCancel = [...(await storedEvents(t.org, 'CANCEL')).values()].reduce((a, b) => a + b, 0);
    expect(storedAtCancel).toBe(last.succeeded);

    const { revision } = (await t.get(jobId)).job;
    await t.post('import/continue', { job_id: jobId, expected_revision: revision }).expect(200);
    const done = await finished(t, jobId, 40_000);
    const checkpoints = await watch.stop();
    await expectExact(t, done, 'CANCEL', goodIds);
    expect(checkpoints).toEqual([...checkpoints].sort((a, b) => a - b));
    expect(checkpoints).toContain(last.last_processed_line);
  }, 90_000);

  it('a worker SIGKILLed mid-export: a new worker resumes from the cursor, every event exactly once, in order', async () => {
    const EXPORTED = 60_000;
    const t = await tenant('bulkexpkill');
    // Events written straight to PostgreSQL in 6 transactions (6 tx ids), ~300 bytes each.
    for (let batch = 0; batch < 6; batch++) {
      await db.query(
        `INSERT INTO events (event_id, orgcode, app_id, event_type, service, action, payload, source, actor,
           occurred_at, received_at)
         SELECT 'EXP-' || n, $1, NULL, 'rfp.created', 'rfp', 'created',
           jsonb_build_object('rfp_id', 'R-' || n, 'title', repeat('x', 200)), 'api', 'seed', now(), now()
         FROM generate_series($2::int, $3::int) AS n`,
        [t.org, batch * 10_000 + 1, (batch + 1) * 10_000],
      );
    }
    const first = startWorker();
    const created = await t.post('export/create', { target: 'events', format: 'ndjson' }).expect(200);
    const jobId = (created.body.data.job as Job).job_id;

    const atKill = await waitFor(
      'the export to be 10% through',
      async () => {
        const j = await row(jobId);
        return j.processed >= EXPORTED * 0.1 ? j : undefined;
      },
      30_000,
    );
    await stop(first, 'SIGKILL');
    const dead = await row(jobId);
    if (dead.status !== 'running' || dead.processed >= EXPORTED) {
      throw new Error(`missed the middle of the export: ${dead.status}, ${dead.processed} of ${EXPORTED} rows`);
    }
    expect(dead.processed).toBeGreaterThanOrEqual(atKill.processed);

    startWorker();
    const done = await finished(t, jobId, 60_000);
    expect(done.job).toMatchObject({ status: 'completed', processed: EXPORTED, total_lines: EXPORTED });
    const { download_url } = (await t.get(jobId)) as { download_url?: string };
    expect(download_url).toBeDefined();
    const res = await api
      .http()
      .get(download_url as string)
      .set('accept-encoding', 'identity')
      .buffer(true)
      .parse((r, callback) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => callback(null, Buffer.concat(chunks)));
      })
      .expect(200);
    const ids = (res.body as Buffer)
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { event_id: string }).event_id);
    const inDb = await db.query<Array<{ event_id: string }>>(
      `SELECT event_id FROM events WHERE orgcode = $1 AND source = 'api' ORDER BY tx_id, seq`,
      [t.org],
    );
    expect(ids.length).toBe(EXPORTED);
    expect(new Set(ids).size).toBe(EXPORTED); // no row written twice
    expect(ids).toEqual(inDb.map((r) => r.event_id)); // none skipped, feed order
  }, 120_000);
});
