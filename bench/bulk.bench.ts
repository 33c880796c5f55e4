// `npm run bench -- bulk`: bulk import and export of events end to end (issue 6, point 7). The built api and ONE
// built worker run as child processes against their own database and queue prefix. Phases, in this order:
//   (warm-up) a small import (and export) through the whole flow, in another tenant;
//   (1) upload: /bulk/import/create (events, ndjson), then BULK_BENCH_LINES NDJSON lines of 1,000 bytes each,
//       generated on the fly, streamed with one PUT to upload_url -> MB/s;
//   (2) import: /bulk/import/commit (expected_revision) until /bulk/job/get says it finished -> lines/s; the job
//       must be `completed` with every line succeeded, and the tenant must hold that many events;
//   (fan-out) until the worker's outbox relay has taken every imported event's outbox row (timed, not a target),
//       so that what follows does not share the machine with that backlog;
//   (raw) COPY FROM: the same rows (same columns and values, as the import stored them) into a copy of `events`
//       (LIKE events INCLUDING ALL: same constraints and indexes), via `psql \copy ... FROM pstdin` -> rows/s;
//   (3) export: /bulk/export/create (events, ndjson) until completed -> lines/s;
//   (raw) COPY TO: `\copy (SELECT <the exported columns> FROM events WHERE orgcode = ... ORDER BY tx_id, seq)
//       TO pstdout`: the rows the export wrote, in its order;
//   (4) download: GET download_url, plain and gzip, counting lines -> MB/s.
// RSS of the api and the worker is sampled from /proc every 200 ms throughout; per phase, the CPU seconds of the api,
// the worker, this process and the database's PostgreSQL backends, and what those backends were busy with
// (pg_stat_activity sampled every 200 ms), are printed to say where the time went. Environment: BULK_BENCH_LINES
// (default 1,000,000), BULK_BENCH_CPU_PROF (a directory: the worker runs with --cpu-prof and its profile is
// summarised at the end), BULK_BENCH_ANALYZE (1: `ANALYZE events` before the export, a diagnostic), and the api's
// and worker's own variables (BULK_CHUNK_LINES...).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import * as http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { summarizeCpuProfile } from './cpu-profile';
import { windowCpuProfile } from './cpu-profile-window';
import { PhaseMeter } from './phase-meter';
import { API_MAIN, benchEnv, freePort, runCli, Server, WORKER_MAIN, WORKER_NODE_ARGS } from './processes';
import { Figure, fmt, line, section, verdict, JsonFigure, printJson } from './report';

export interface BulkBenchOptions {
  /** NDJSON lines of the measured import (BULK_BENCH_LINES). */
  lines: number;
  /** When set, the worker runs with --cpu-prof and writes its profile here (BULK_BENCH_CPU_PROF). */
  cpuProfDir?: string;
  /**
   * Diagnostic, off by default (BULK_BENCH_ANALYZE=1): `ANALYZE events` before the export, to show what fresh
   * planner statistics change (right after a bulk import they describe a much smaller table).
   */
  analyzeBeforeExport?: boolean;
}

/** Targets (issue 6, point 7). */
const MIN_IMPORT_LINES_PER_S = 15_000;
const MIN_IMPORT_SHARE_OF_COPY = 25;
const MIN_EXPORT_LINES_PER_S = 50_000;
const MAX_RSS_MB = 250;

/** Every NDJSON line is exactly this long, newline included: 1,000,000 lines stay under the 1 GiB upload cap. */
const LINE_BYTES = 1000;
/** Lines per buffer handed to a stream (about 256 KB). */
const LINES_PER_CHUNK = 256;
const WARMUP_LINES = 5_000;
const POLL_MS = 200;
const PROGRESS_EVERY_MS = 15_000;

const DATABASE = 'ipm_bench_bulk';
const QUEUE_PREFIX = 'ipm-bench-bulk';
const ORG = 'bulkbench';
const WARM_ORG = 'bulkwarm';
const SUB = 'bench';
const RAW_TABLE = 'bench_raw_events';
const FINISHED = new Set(['completed', 'completed_with_errors', 'failed', 'cancelled', 'expired']);
/** The columns an imported event sets (seq, tx_id come from their defaults), in COPY order. */
const COPY_COLUMNS = [
  'event_id',
  'orgcode',
  'app_id',
  'event_type',
  'service',
  'action',
  'payload',
  'logical_guid',
  'channel_code',
  'source',
  'actor',
  'occurred_at',
  'received_at',
];
/** The columns of an exported event (EVENT_EXPORT_COLUMNS, with `sequence` = seq and `position` from tx_id.seq). */
const EXPORT_COLUMNS = [
  'event_id',
  'event_type',
  'service',
  'action',
  'payload',
  'logical_guid',
  'channel_code',
  'app_id',
  'source',
  'occurred_at',
  'received_at',
  'seq',
  'tx_id',
];
const MB = 1e6;

// ---------------------------------------------------------------------------------------------------------------
// The data: one `rfp.created` event per line, its payload valid against the shipped schema.

const WORDS = (
  'regional distribution cold chain last-mile delivery fleet telematics installation training support warehouse ' +
  'pallet freight carrier route depot dispatch invoice tender supplier contract renewal compliance audit safety ' +
  'temperature sensor gateway firmware battery charging electric diesel hybrid van truck trailer forklift scanner ' +
  'barcode label customs export import harbour rail air parcel courier returns inventory forecast demand capacity ' +
  'maintenance inspection tyre brake engine insurance claim damage delay priority express standard economy bulk ' +
  'hazardous fragile frozen chilled ambient pharma food retail wholesale ecommerce marketplace north south east west'
).split(' ');
/**
 * Text for buyer.name: words drawn with a fixed-seed PRNG, 4 MiB of them, each line taking a window at its own
 * offset. Unlike a repeated phrase, this compresses about as well as real text (gzip, TOAST), not 30 to 1.
 */
const CORPUS = ((): string => {
  let x = 0x9e3779b9;
  const parts: string[] = [];
  let length = 0;
  while (length < 4 * 2 ** 20) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const word = WORDS[(x >>> 0) % WORDS.length];
    parts.push(word);
    length += word.length + 1;
  }
  return parts.join(' ');
})();
const BASE_MS = Date.parse('2026-01-01T00:00:00Z');

interface EventParts {
  eventId: string;
  guid: string;
  occurredAt: string;
  /** The payload as JSON text, padded (inside buyer.name) so that the NDJSON line is LINE_BYTES long. */
  payload: string;
}

function eventParts(prefix: string, i: number): EventParts {
  const n = String(i).padStart(9, '0');
  const eventId = `${prefix}-${n}`;
  const guid = `RFP-${n}`;
  const occurredAt = new Date(BASE_MS + i * 1000).toISOString();
  const head =
    `{"rfp_id":"${guid}","title":"Fleet telematics for ${400 + (i % 1000)} vehicles, with installation, ` +
    `training and five years of support","buyer":{"org_id":"ORG-${i % 97}","name":"Acme Logistics ${i}: `;
  const tail =
    `"},"due_at":"2026-03-01T17:00:00Z","budget":{"amount":"${250_000 + (i % 5000)}.00","currency":"EUR"},` +
    `"status":"open"}`;
  const envelope = `{"event_type":"rfp.created","event_id":"${eventId}","logical_guid":"${guid}","occurred_at":"${occurredAt}","payload":}\n`;
  const fill = LINE_BYTES - envelope.length - head.length - tail.length;
  if (fill < 0) throw new Error(`line ${i} cannot be padded to ${LINE_BYTES} bytes`);
  const at = (i * 7919) % (CORPUS.length - fill);
  return { eventId, guid, occurredAt, payload: head + CORPUS.slice(at, at + fill) + tail };
}

function ndjsonLine(e: EventParts): string {
  return `{"event_type":"rfp.created","event_id":"${e.eventId}","logical_guid":"${e.guid}","occurred_at":"${e.occurredAt}","payload":${e.payload}}\n`;
}

/** Lines [0, count) as buffers of LINES_PER_CHUNK lines, generated as the consumer reads. */
function lineStream(count: number, render: (i: number) => string): Readable {
  function* chunks(): Generator<Buffer> {
    for (let start = 0; start < count; start += LINES_PER_CHUNK) {
      let text = '';
      for (let i = start; i < Math.min(count, start + LINES_PER_CHUNK); i++) text += render(i);
      yield Buffer.from(text, 'utf8');
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

// ---------------------------------------------------------------------------------------------------------------
// The api.

interface BulkJob {
  job_id: string;
  status: string;
  revision: string;
  total_lines: number | null;
  processed: number;
  succeeded: number;
  failed: number;
  error: string | null;
  upload_bytes: number;
  started_at: string | null;
  finished_at: string | null;
}

interface JobDetail {
  job: BulkJob;
  download_url?: string;
  report_url?: string;
}

interface Envelope<T> {
  success?: boolean;
  data?: T;
}

class BulkApi {
  constructor(
    readonly baseUrl: string,
    private readonly jwt: string,
  ) {}

  async post<T>(orgcode: string, route: string, body: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}/ipm/bulk/${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.jwt}`, 'x-orgcode': orgcode, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Envelope<T>;
    if (res.status !== 200 || !json.success || json.data === undefined) {
      throw new Error(`/ipm/bulk/${route} answered ${res.status}: ${JSON.stringify(json).slice(0, 500)}`);
    }
    return json.data;
  }

  /** Polls /bulk/job/get until the job is in a final state; logs progress now and then. */
  async waitFinished(orgcode: string, jobId: string, what: string, timeoutMs: number): Promise<JobDetail> {
    const started = performance.now();
    let lastLog = started;
    let lastProcessed = 0;
    for (;;) {
      const detail = await this.post<JobDetail>(orgcode, 'job/get', { job_id: jobId });
      if (FINISHED.has(detail.job.status)) return detail;
      const now = performance.now();
      if (now - started > timeoutMs) {
        throw new Error(`${what} did not finish within ${timeoutMs / 1000} s: ${JSON.stringify(detail.job)}`);
      }
      if (now - lastLog >= PROGRESS_EVERY_MS) {
        const rate = ((detail.job.processed - lastProcessed) * 1000) / (now - lastLog);
        line(
          `   ... ${what}: ${detail.job.status}, ${fmt(detail.job.processed)} processed ` +
            `(${fmt(rate)}/s over the last ${fmt((now - lastLog) / 1000)} s)`,
        );
        lastLog = now;
        lastProcessed = detail.job.processed;
      }
      await sleep(POLL_MS);
    }
  }
}

/** Streams `body` with one PUT of `length` bytes; resolves with the status and the (small) response. */
function putStream(url: string, body: Readable, length: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-ndjson', 'content-length': String(length) },
    });
    req.once('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.once('error', reject);
    });
    req.once('error', reject);
    body.once('error', reject);
    body.pipe(req);
  });
}

/** Counts the newlines of what passes through it. */
class LineCounter extends Writable {
  lines = 0;
  bytes = 0;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) this.lines++;
    done();
  }
}

interface DownloadResult {
  gzip: boolean;
  status: number;
  lines: number;
  /** Bytes on the wire (compressed when gzip). */
  wireBytes: number;
  /** Bytes of the file itself. */
  fileBytes: number;
  seconds: number;
}

/** GETs a file URL and counts its lines (gunzipping when the server compressed it). */
async function download(url: string, acceptGzip: boolean): Promise<DownloadResult> {
  const started = performance.now();
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get(url, { headers: acceptGzip ? { 'accept-encoding': 'gzip' } : {} }, resolve);
    req.once('error', reject);
  });
  let wireBytes = 0;
  const wire = new Transform({
    transform(chunk: Buffer, _enc, done) {
      wireBytes += chunk.length;
      done(null, chunk);
    },
  });
  const counter = new LineCounter();
  const gzip = res.headers['content-encoding'] === 'gzip';
  if (gzip) await pipeline(res, wire, createGunzip(), counter);
  else await pipeline(res, wire, counter);
  return {
    gzip,
    status: res.statusCode ?? 0,
    lines: counter.lines,
    wireBytes,
    fileBytes: counter.bytes,
    seconds: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The import and export flows.

interface ImportResult {
  jobId: string;
  uploadSeconds: number;
  uploadBytes: number;
  /** From just before the commit request until /bulk/job/get first showed the job finished. */
  importSeconds: number;
  /** The worker's own window: started_at to finished_at. */
  workerSeconds: number | null;
  job: BulkJob;
}

async function importFlow(
  api: BulkApi,
  orgcode: string,
  lines: number,
  prefix: string,
  onPhase: (phase: 'upload' | 'import') => Promise<void>,
): Promise<ImportResult> {
  const created = await api.post<{ job: BulkJob; upload_url: string }>(orgcode, 'import/create', {
    target: 'events',
    format: 'ndjson',
  });
  await onPhase('upload');
  const uploadStarted = performance.now();
  const put = await putStream(
    api.baseUrl + created.upload_url,
    lineStream(lines, (i) => ndjsonLine(eventParts(prefix, i))),
    lines * LINE_BYTES,
  );
  const uploadSeconds = (performance.now() - uploadStarted) / 1000;
  if (put.status !== 200) throw new Error(`PUT upload_url answered ${put.status}: ${put.text.slice(0, 500)}`);
  const uploaded = (JSON.parse(put.text) as Envelope<{ job: BulkJob }>).data?.job;
  if (!uploaded) throw new Error(`PUT upload_url returned no job: ${put.text.slice(0, 500)}`);

  await onPhase('import');
  const commitStarted = performance.now();
  await api.post(orgcode, 'import/commit', { job_id: uploaded.job_id, expected_revision: uploaded.revision });
  const done = await api.waitFinished(orgcode, uploaded.job_id, 'import', Math.max(120_000, lines * 2));
  const importSeconds = (performance.now() - commitStarted) / 1000;
  const { started_at, finished_at } = done.job;
  return {
    jobId: uploaded.job_id,
    uploadSeconds,
    uploadBytes: Number(uploaded.upload_bytes),
    importSeconds,
    workerSeconds: started_at && finished_at ? (Date.parse(finished_at) - Date.parse(started_at)) / 1000 : null,
    job: done.job,
  };
}

interface ExportResult {
  jobId: string;
  seconds: number;
  workerSeconds: number | null;
  job: BulkJob;
  downloadUrl?: string;
}

async function exportFlow(api: BulkApi, orgcode: string, timeoutMs: number): Promise<ExportResult> {
  const started = performance.now();
  const created = await api.post<{ job: BulkJob }>(orgcode, 'export/create', { target: 'events', format: 'ndjson' });
  const done = await api.waitFinished(orgcode, created.job.job_id, 'export', timeoutMs);
  const { started_at, finished_at } = done.job;
  return {
    jobId: created.job.job_id,
    seconds: (performance.now() - started) / 1000,
    workerSeconds: started_at && finished_at ? (Date.parse(finished_at) - Date.parse(started_at)) / 1000 : null,
    job: done.job,
    downloadUrl: done.download_url === undefined ? undefined : api.baseUrl + done.download_url,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL: counts, and the raw limits through psql's \copy.

async function withClient<T>(databaseUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

interface StoredSample {
  /** The tenant's rfp.created events: the imported ones (the platform's own ipm.bulk.* events are not counted). */
  count: number;
  /** All of the tenant's events: what an export of the tenant must hold. */
  all: number;
  /** The largest seq of the tenant's events (the export's completion event comes after it). */
  max_seq: string;
  app_id: string | null;
  source: string;
  actor: string;
  bytes: number;
}

/** How many events the tenant holds, and what an imported row looks like (for the raw rows). */
async function storedEvents(databaseUrl: string, orgcode: string): Promise<StoredSample> {
  return withClient(databaseUrl, async (c) => {
    const { rows } = await c.query<StoredSample>(
      `SELECT (SELECT count(*)::int FROM events WHERE orgcode = $1 AND event_type = $2) AS count,
              (SELECT count(*)::int FROM events WHERE orgcode = $1) AS all,
              (SELECT max(seq)::text FROM events WHERE orgcode = $1) AS max_seq,
              e.app_id, e.source, e.actor, pg_column_size(e.*)::int AS bytes
       FROM events e WHERE orgcode = $1 AND event_type = $2 ORDER BY seq LIMIT 1`,
      [orgcode, 'rfp.created'],
    );
    return rows[0] ?? { count: 0, all: 0, max_seq: '0', app_id: null, source: 'api', actor: SUB, bytes: 0 };
  });
}

interface DrainResult {
  pendingAtStart: number;
  pendingAtEnd: number;
  seconds: number;
}

/** Waits until the outbox is empty (the relay has fanned every stored event out), or `timeoutMs` passed. */
async function drainOutbox(databaseUrl: string, timeoutMs: number): Promise<DrainResult> {
  return withClient(databaseUrl, async (c) => {
    const pending = async (): Promise<number> =>
      (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM event_outbox WHERE processed_at IS NULL')).rows[0]
        .n;
    const started = performance.now();
    const pendingAtStart = await pending();
    let left = pendingAtStart;
    let lastLog = started;
    while (left > 0 && performance.now() - started < timeoutMs) {
      await sleep(500);
      left = await pending();
      if (performance.now() - lastLog >= PROGRESS_EVERY_MS) {
        line(`   ... fan-out: ${fmt(left)} outbox rows pending`);
        lastLog = performance.now();
      }
    }
    return { pendingAtStart, pendingAtEnd: left, seconds: (performance.now() - started) / 1000 };
  });
}

interface PsqlResult {
  rows: number;
  seconds: number;
  bytes: number;
}

/** Runs one psql meta-command (`\copy ...`), feeding it `input` on its stdin; counts the lines of its stdout. */
function psql(databaseUrl: string, command: string, input?: Readable): Promise<PsqlResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('psql', [databaseUrl, '-X', '-v', 'ON_ERROR_STOP=1', '-c', command], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const counter = new LineCounter();
    let lastOut = '';
    child.stdout.on('data', (chunk: Buffer) => {
      lastOut = (lastOut + chunk.subarray(Math.max(0, chunk.length - 100)).toString('utf8')).slice(-100);
    });
    child.stdout.pipe(counter);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.stdin.once('error', () => undefined); // psql failed: its exit code and stderr say why
    if (input) {
      input.once('error', reject);
      input.pipe(child.stdin);
    } else child.stdin.end();
    child.once('error', reject);
    child.once('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`psql ${command.slice(0, 80)}... failed (${code}): ${stderr}`));
      if (!input) return resolve({ rows: counter.lines, seconds, bytes: counter.bytes });
      // \copy ... FROM prints "COPY <n>" when it is done (\copy ... TO pstdout prints only the rows).
      const copied = /COPY (\d+)\s*$/.exec(lastOut);
      if (!copied) return reject(new Error(`psql ${command.slice(0, 80)}... printed no COPY count: ${lastOut}`));
      resolve({ rows: Number(copied[1]), seconds, bytes: counter.bytes });
    });
  });
}

/** PostgreSQL's own rate for the rows the import stored: COPY FROM into a copy of `events` with its indexes. */
async function rawCopyFrom(databaseUrl: string, lines: number, sample: StoredSample): Promise<PsqlResult> {
  await withClient(databaseUrl, (c) =>
    c.query(`DROP TABLE IF EXISTS ${RAW_TABLE}; CREATE TABLE ${RAW_TABLE} (LIKE events INCLUDING ALL)`),
  );
  const receivedAt = new Date().toISOString();
  const app = sample.app_id ?? '\\N';
  // COPY text format: the generated values hold no tab, newline or backslash, so none needs escaping.
  const row = (i: number): string => {
    const e = eventParts('bulk', i);
    return (
      `${e.eventId}\t${ORG}\t${app}\trfp.created\trfp\tcreated\t${e.payload}\t${e.guid}\t\\N\t` +
      `${sample.source}\t${sample.actor}\t${e.occurredAt}\t${receivedAt}\n`
    );
  };
  try {
    return await psql(
      databaseUrl,
      `\\copy ${RAW_TABLE} (${COPY_COLUMNS.join(', ')}) FROM pstdin`,
      lineStream(lines, row),
    );
  } finally {
    await withClient(databaseUrl, (c) => c.query(`DROP TABLE IF EXISTS ${RAW_TABLE}`));
  }
}

/**
 * PostgreSQL's own rate for reading the exported rows out (the tenant's events up to `maxSeq`, in the export's
 * order and with its columns): COPY (SELECT ...) TO STDOUT, counted here.
 */
function rawCopyTo(databaseUrl: string, maxSeq: string): Promise<PsqlResult> {
  return psql(
    databaseUrl,
    `\\copy (SELECT ${EXPORT_COLUMNS.join(', ')} FROM events WHERE orgcode = '${ORG}' AND seq <= ${BigInt(maxSeq)} ORDER BY tx_id, seq) TO pstdout`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Output.

/** The worker's CPU profile of this run, cut to each of `phases`. */
function printProfiles(dir: string, since: number, meter: PhaseMeter, phases: readonly string[]): void {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).mtimeMs >= since)
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  const file = files.at(-1);
  if (!file) return section(`worker CPU profile: none written into ${dir}`);
  for (const phase of phases) {
    const p = meter.phases.get(phase);
    if (!p) continue;
    const out = file.replace(/\.cpuprofile$/, `.${phase}.cpuprofile`);
    const kept = windowCpuProfile(file, out, p.fromUs, p.toUs);
    section(
      `worker CPU profile, ${phase} (${fmt(p.seconds, 1)} s, ${fmt(kept)} samples): ${out}`,
      kept ? summarizeCpuProfile(out, 12) : ['no samples in this window'],
    );
  }
}

const perSecond = (n: number, seconds: number): number => n / Math.max(0.001, seconds);

// ---------------------------------------------------------------------------------------------------------------

export async function runBulkBenchmark(options: BulkBenchOptions): Promise<Figure[]> {
  const runStarted = Date.now();
  const lines = options.lines;
  const apiPort = await freePort();
  const workerPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...benchEnv(DATABASE, QUEUE_PREFIX, apiPort), WORKER_PORT: String(workerPort) };
  const config = loadConfig(env);
  const databaseUrl = config.DATABASE_URL;
  if (lines * LINE_BYTES > config.BULK_UPLOAD_MAX_BYTES) {
    throw new Error(
      `BULK_BENCH_LINES=${lines} makes a ${fmt(lines * LINE_BYTES)}-byte file, over BULK_UPLOAD_MAX_BYTES ` +
        `(${fmt(config.BULK_UPLOAD_MAX_BYTES)}): raise it in the environment`,
    );
  }
  const workerArgs = [
    ...WORKER_NODE_ARGS,
    ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []),
    WORKER_MAIN,
  ];

  await dropDatabase(databaseUrl);
  runCli(['migrate'], env);
  const jwt = runCli(
    ['token', '--org', `${ORG},${WARM_ORG}`, '--permissions', 'manage_bulk_jobs,publish_events', '--sub', SUB],
    env,
  );

  const monitor = new Client({ connectionString: databaseUrl });
  await monitor.connect();
  const meter = new PhaseMeter(monitor);
  meter.watch('bench', process.pid);
  const setPhase = (phase: string): Promise<void> => meter.enter(phase);
  let apiServer: Server | undefined;
  let worker: Server | undefined;

  let warm: { importS: number; exportS: number | null; exportError: string | null };
  let imp: ImportResult;
  let stored: StoredSample;
  let copyFrom: PsqlResult;
  let fanOut: DrainResult;
  let exp: ExportResult;
  let copyTo: PsqlResult | undefined;
  const downloads: DownloadResult[] = [];
  let databaseBytes: number;
  const measured = ['upload', 'import', 'fan-out', 'copy-from', 'export', 'copy-to', 'download'];
  try {
    apiServer = await Server.start('api-bulk', [API_MAIN], env, apiPort, '/ipm/stat', (child) => {
      if (child.pid) meter.watch('api', child.pid);
    });
    worker = await Server.start('worker-bulk', workerArgs, env, workerPort, '/health/ready', (child) => {
      if (child.pid) meter.watch('worker', child.pid);
    });
    const api = new BulkApi(apiServer.baseUrl, jwt);
    section(
      `bulk: ${fmt(lines)} NDJSON events of ${fmt(LINE_BYTES)} B per line (rfp.created, unique event_id), ` +
        `BULK_CHUNK_LINES ${config.BULK_CHUNK_LINES}` +
        (options.cpuProfDir ? `; the worker runs with --cpu-prof into ${options.cpuProfDir}` : ''),
    );

    // (warm-up) the whole flow once, small, in another tenant: JIT, pools, catalog cache, queue.
    await setPhase('warm-up');
    const warmLines = Math.min(WARMUP_LINES, lines);
    const warmImport = await importFlow(api, WARM_ORG, warmLines, 'warm', () => Promise.resolve());
    if (warmImport.job.status !== 'completed') {
      throw new Error(`the warm-up import ended ${warmImport.job.status}: ${JSON.stringify(warmImport.job)}`);
    }
    const warmExport = await exportFlow(api, WARM_ORG, 60_000);
    warm = {
      importS: warmImport.uploadSeconds + warmImport.importSeconds,
      exportS: warmExport.job.status === 'completed' ? warmExport.seconds : null,
      exportError: warmExport.job.status === 'completed' ? null : `${warmExport.job.status}: ${warmExport.job.error}`,
    };
    line(
      `(warm-up) ${fmt(warmLines)} lines imported in ${fmt(warm.importS, 2)} s; export ` +
        (warm.exportS === null ? `did not complete (${warm.exportError})` : `in ${fmt(warm.exportS, 2)} s`) +
        `; RSS max api ${fmt(meter.rssMax('api', ['warm-up']))} MB, worker ${fmt(meter.rssMax('worker', ['warm-up']))} MB`,
    );

    // (1) upload and (2) import
    imp = await importFlow(api, ORG, lines, 'bulk', setPhase);
    line(
      `(1) upload: ${fmt(imp.uploadBytes / MB)} MB in ${fmt(imp.uploadSeconds, 2)} s ` +
        `(${fmt(perSecond(imp.uploadBytes / MB, imp.uploadSeconds), 1)} MB/s, one streamed PUT)`,
    );
    line(
      `(2) import: ${imp.job.status}, ${fmt(imp.job.succeeded)} succeeded, ${fmt(imp.job.failed)} failed, ` +
        `in ${fmt(imp.importSeconds, 2)} s from commit (${fmt(perSecond(imp.job.succeeded, imp.importSeconds))} lines/s; ` +
        `worker started_at->finished_at ${imp.workerSeconds === null ? '?' : `${fmt(imp.workerSeconds, 2)} s`})` +
        (imp.job.error ? `; error: ${imp.job.error}` : ''),
    );
    await setPhase('count');
    stored = await storedEvents(databaseUrl, ORG);
    line(
      `    events rows of the tenant: ${fmt(stored.count)} rfp.created (${fmt(stored.bytes)} B per row as stored), ` +
        `${fmt(stored.all)} in all (the platform's ipm.bulk.* events too)`,
    );

    // (fan-out) the outbox rows of the imported events, relayed by the worker after the import: wait for them, so
    // that the raw limits and the export do not share the machine with that backlog.
    await setPhase('fan-out');
    fanOut = await drainOutbox(databaseUrl, Math.max(120_000, lines));
    line(
      `(fan-out) ${fmt(fanOut.pendingAtStart)} outbox rows still pending when the import finished; drained in ` +
        `${fmt(fanOut.seconds, 1)} s` +
        (fanOut.pendingAtEnd ? ` -- NOT drained, ${fmt(fanOut.pendingAtEnd)} left at the time limit` : ''),
    );

    // (raw) COPY FROM
    await setPhase('copy-from');
    copyFrom = await rawCopyFrom(databaseUrl, lines, stored);
    line(
      `(raw) COPY FROM: ${fmt(copyFrom.rows)} rows in ${fmt(copyFrom.seconds, 2)} s ` +
        `(${fmt(perSecond(copyFrom.rows, copyFrom.seconds))} rows/s; psql \\copy from a stream, into ${RAW_TABLE} ` +
        'LIKE events INCLUDING ALL)',
    );

    // (3) export
    if (options.analyzeBeforeExport) {
      const started = performance.now();
      await withClient(databaseUrl, (c) => c.query('ANALYZE events'));
      line(`    ANALYZE events (BULK_BENCH_ANALYZE): ${fmt((performance.now() - started) / 1000, 2)} s`);
    }
    await setPhase('export');
    exp = await exportFlow(api, ORG, Math.max(120_000, lines));
    line(
      `(3) export: ${exp.job.status}, ${fmt(exp.job.succeeded)} succeeded (total_lines ${exp.job.total_lines ?? '-'}) ` +
        `in ${fmt(exp.seconds, 2)} s from create (${fmt(perSecond(exp.job.total_lines ?? exp.job.succeeded, exp.seconds))} lines/s; ` +
        `worker ${exp.workerSeconds === null ? '?' : `${fmt(exp.workerSeconds, 2)} s`})` +
        (exp.job.error ? `; error: ${exp.job.error}` : ''),
    );

    // (raw) COPY TO
    await setPhase('copy-to');
    copyTo = await rawCopyTo(databaseUrl, stored.max_seq);
    line(
      `(raw) COPY TO: ${fmt(copyTo.rows)} rows (${fmt(copyTo.bytes / MB)} MB) in ${fmt(copyTo.seconds, 2)} s ` +
        `(${fmt(perSecond(copyTo.rows, copyTo.seconds))} rows/s)`,
    );

    // (4) download, plain and gzip
    if (exp.downloadUrl) {
      await setPhase('download');
      for (const gzip of [false, true]) {
        const d = await download(exp.downloadUrl, gzip);
        downloads.push(d);
        line(
          `(4) download${gzip ? ' (Accept-Encoding: gzip)' : ''}: ${d.status}, ${fmt(d.lines)} lines, ` +
            `${fmt(d.fileBytes / MB)} MB` +
            (d.gzip ? ` (${fmt(d.wireBytes / MB)} MB gzipped on the wire)` : '') +
            ` in ${fmt(d.seconds, 2)} s (${fmt(perSecond(d.fileBytes / MB, d.seconds), 1)} MB/s of file` +
            (d.gzip ? `, ${fmt(perSecond(d.wireBytes / MB, d.seconds), 1)} MB/s on the wire` : '') +
            ')',
        );
      }
    } else line(`(4) download: skipped (the export did not complete, so there is no download_url)`);
    await setPhase('end');
    databaseBytes = await withClient(databaseUrl, async (c) => {
      const { rows } = await c.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes');
      return Number(rows[0].bytes);
    });
  } catch (err) {
    if (worker) process.stderr.write(`worker log (${worker.logFile}):\n${worker.logTail(30)}\n`);
    if (apiServer) process.stderr.write(`api log (${apiServer.logFile}):\n${apiServer.logTail(30)}\n`);
    throw err;
  } finally {
    meter.stop();
    await monitor.end();
    await worker?.stop();
    await apiServer?.stop();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(config.REDIS_URL, QUEUE_PREFIX);
  }

  // Figures
  const importOk = imp.job.status === 'completed' && imp.job.succeeded === lines && stored.count === lines;
  const importRate = importOk ? perSecond(lines, imp.importSeconds) : 0;
  const copyFromRate = perSecond(copyFrom.rows, copyFrom.seconds);
  const importShare = (100 * importRate) / Math.max(1, copyFromRate);
  const totalImportSeconds = imp.uploadSeconds + imp.importSeconds;
  const exportLines = exp.job.total_lines ?? exp.job.succeeded;
  const exportOk = exp.job.status === 'completed' && exportLines === stored.all && exp.job.succeeded === stored.all;
  const exportRate = exportOk ? perSecond(exportLines, exp.seconds) : 0;
  const copyToRate = copyTo ? perSecond(copyTo.rows, copyTo.seconds) : 0;
  const downloadedOk = downloads.length > 0 && downloads.every((d) => d.status === 200 && d.lines === stored.all);
  const apiRss = meter.rssMax('api', measured);
  const workerRss = meter.rssMax('worker', measured);

  const json: JsonFigure[] = [
    { name: 'upload MB/s', value: perSecond(imp.uploadBytes / MB, imp.uploadSeconds), unit: 'MB/s' },
    { name: 'upload seconds', value: imp.uploadSeconds, unit: 's' },
    {
      name: 'import lines/s (commit to finished)',
      value: importRate,
      unit: 'lines/s',
      limit: copyFromRate,
      ratio: importRate / Math.max(1, copyFromRate),
      target: MIN_IMPORT_LINES_PER_S,
      higher_is_better: true,
    },
    { name: 'import seconds (commit to finished)', value: imp.importSeconds, unit: 's' },
    {
      name: 'import lines/s including upload',
      value: importOk ? perSecond(lines, totalImportSeconds) : 0,
      unit: 'lines/s',
      limit: copyFromRate,
      ratio: (importOk ? perSecond(lines, totalImportSeconds) : 0) / Math.max(1, copyFromRate),
    },
    { name: 'import seconds including upload', value: totalImportSeconds, unit: 's' },
    { name: 'outbox rows pending when the import finished', value: fanOut.pendingAtStart, unit: 'rows' },
    { name: 'fan-out drain seconds after the import', value: fanOut.seconds, unit: 's' },
    { name: 'COPY FROM rows/s', value: copyFromRate, unit: 'rows/s' },
    {
      name: 'import vs COPY FROM',
      value: importShare,
      unit: '%',
      target: MIN_IMPORT_SHARE_OF_COPY,
      higher_is_better: true,
    },
    { name: 'events stored', value: stored.count, unit: 'rows', target: lines, higher_is_better: true },
    {
      name: 'export lines/s (create to completed)',
      value: exportRate,
      unit: 'lines/s',
      limit: copyToRate,
      ratio: exportRate / Math.max(1, copyToRate),
      target: MIN_EXPORT_LINES_PER_S,
      higher_is_better: true,
    },
    { name: 'export seconds (create to completed)', value: exp.seconds, unit: 's' },
    { name: 'COPY TO rows/s', value: copyToRate, unit: 'rows/s' },
    ...downloads.flatMap((d): JsonFigure[] => [
      {
        name: `download${d.gzip ? ' gzip' : ''} MB/s (of file)`,
        value: perSecond(d.fileBytes / MB, d.seconds),
        unit: 'MB/s',
      },
      {
        name: `download${d.gzip ? ' gzip' : ''} lines`,
        value: d.lines,
        unit: 'lines',
        target: stored.all,
        higher_is_better: true,
      },
    ]),
    { name: 'api RSS max', value: apiRss, unit: 'MB', target: MAX_RSS_MB, higher_is_better: false },
    { name: 'worker RSS max', value: workerRss, unit: 'MB', target: MAX_RSS_MB, higher_is_better: false },
  ];
  section('bulk figures (JSON, one per line)');
  for (const f of json) printJson('bulk', f);

  const figures: Figure[] = [
    {
      name: `bulk import ${fmt(lines)} lines, lines/s`,
      value: importRate,
      unit: 'ops/s',
      bound: 'min',
      target: MIN_IMPORT_LINES_PER_S,
      raw: copyFromRate,
    },
    { name: 'bulk import vs COPY FROM', value: importShare, unit: '%', bound: 'min', target: MIN_IMPORT_SHARE_OF_COPY },
    {
      name: 'bulk import: events stored of lines sent',
      value: (100 * stored.count) / lines,
      unit: '%',
      bound: 'min',
      target: 100,
    },
    {
      name: `bulk export ${fmt(lines)} lines, lines/s`,
      value: exportRate,
      unit: 'ops/s',
      bound: 'min',
      target: MIN_EXPORT_LINES_PER_S,
      ...(copyTo ? { raw: copyToRate } : {}),
    },
    {
      name: 'bulk export: lines downloaded of events',
      value: downloadedOk
        ? 100
        : downloads.length
          ? (100 * Math.min(...downloads.map((d) => d.lines))) / stored.all
          : 0,
      unit: '%',
      bound: 'min',
      target: 100,
    },
    { name: 'bulk api RSS max', value: apiRss, unit: 'MB', bound: 'max', target: MAX_RSS_MB },
    { name: 'bulk worker RSS max', value: workerRss, unit: 'MB', bound: 'max', target: MAX_RSS_MB },
  ];

  section(`(bulk) import and export of ${fmt(lines)} events through the api and one worker`, [
    `upload: ${fmt(perSecond(imp.uploadBytes / MB, imp.uploadSeconds), 1)} MB/s (${fmt(imp.uploadBytes / MB)} MB ` +
      `in ${fmt(imp.uploadSeconds, 1)} s)`,
    `import: ${fmt(importRate)} lines/s from commit to finished (${fmt(imp.importSeconds, 1)} s; ` +
      `${fmt(perSecond(lines, totalImportSeconds))} lines/s and ${fmt(totalImportSeconds, 1)} s including the upload); ` +
      `job ${imp.job.status}, ${fmt(imp.job.succeeded)} succeeded, ${fmt(imp.job.failed)} failed; ` +
      `${fmt(stored.count)} events rows`,
    `fan-out: the relay still had ${fmt(fanOut.pendingAtStart)} of the import's outbox rows when it finished, ` +
      `and took ${fmt(fanOut.seconds, 1)} s more to drain them` +
      (fanOut.pendingAtEnd ? ` (NOT drained: ${fmt(fanOut.pendingAtEnd)} left)` : ''),
    `raw COPY FROM: ${fmt(copyFromRate)} rows/s for the same rows into a copy of events with its ` +
      `indexes; the import runs at ${fmt(importShare, 1)} % of it (it also parses and validates every ` +
      'line against the catalog schema, writes an outbox row per event, and checkpoints every chunk)',
    `export: ${exportOk ? `${fmt(exportRate)} lines/s (${fmt(exp.seconds, 1)} s from create to completed)` : `not measured: job ${exp.job.status}${exp.job.error ? ` (${exp.job.error})` : ''}`}; ` +
      `raw COPY TO: ${fmt(copyToRate)} rows/s` +
      (exportOk ? `, the export runs at ${fmt((100 * exportRate) / Math.max(1, copyToRate), 1)} % of it` : ''),
    ...downloads.map(
      (d) =>
        `download${d.gzip ? ' (gzip)' : ''}: ${fmt(d.lines)} lines, ${fmt(perSecond(d.fileBytes / MB, d.seconds), 1)} MB/s of file` +
        (d.gzip ? ` (${fmt((100 * d.wireBytes) / Math.max(1, d.fileBytes), 1)} % of it on the wire)` : ''),
    ),
    `RSS max (MB) api: ${meter.samplers.get('api')?.describe(measured) ?? '-'}; ` +
      `worker: ${meter.samplers.get('worker')?.describe(measured) ?? '-'}`,
    'where the time went (CPU seconds from /proc; postgres = the backends of the bench database):',
    ...measured.flatMap((p) => [
      `  ${meter.describe(p, cpus().length)}`,
      ...meter.pgActivity(p, 5).map((a) => `      ${a}`),
    ]),
    `database size at the end: ${fmt(databaseBytes / MB)} MB (dropped); warm-up: ${fmt(Math.min(WARMUP_LINES, lines))} ` +
      `lines in another tenant`,
    `limits: import >= ${fmt(MIN_IMPORT_LINES_PER_S)} lines/s and >= ${MIN_IMPORT_SHARE_OF_COPY} % of COPY FROM; ` +
      `export >= ${fmt(MIN_EXPORT_LINES_PER_S)} lines/s; api and worker RSS <= ${MAX_RSS_MB} MB`,
  ]);
  for (const f of figures) line(verdict(f));
  if (options.cpuProfDir) printProfiles(options.cpuProfDir, runStarted, meter, ['import', 'export']);
  return figures;
}
