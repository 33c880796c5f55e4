// The webhook receiver of `npm run bench -- delivery`, run as a child process of the bench (forked with an IPC
// channel) so that its CPU is not the bench's. It listens on one or more 127.0.0.1 ports, verifies the Standard
// Webhooks signature of every request with node:crypto (the secret of the request's path), counts unique
// webhook-ids, duplicates and invalid signatures, and measures publish->receive latency from the send time the
// bench embeds in each event. Every request is answered 204 (a bad signature too: it is counted, not retried).
//
// Event keys: `data.rfp_id` is `<phase><seq>-<sent ms>`, the phase one of the letters of PHASES.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** R: the raw BullMQ run, T: throughput, L: latency, B: backlog, F: fan-out. */
export const PHASES = ['R', 'T', 'L', 'B', 'F'] as const;
export type Phase = (typeof PHASES)[number];

/** Standard Webhooks: a timestamp further than this from now is refused by receivers. */
const TOLERANCE_S = 300;

export interface PhaseStats {
  /** Requests whose signature verified, with a webhook-id not seen before. */
  unique: number;
  /** Verified requests repeating a webhook-id already received. */
  duplicateIds: number;
  /** Verified requests repeating an (endpoint path, event) pair already received under another webhook-id. */
  duplicatePairs: number;
  /** Date.now() of the first and the last unique request. */
  firstAt: number;
  lastAt: number;
  /** Publish -> receive latency of the unique requests, in ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ReceiverStats {
  phases: Record<Phase, PhaseStats>;
  /** Bad or missing signature headers, a wrong signature, a stale timestamp, or an unknown path. */
  invalid: number;
  /** Verified, but not an rfp.created event of the bench (e.g. a platform event). */
  other: number;
  requests: number;
  /** A few examples of what was invalid, for the report. */
  invalidSamples: string[];
}

/** Bench -> receiver. */
export type ReceiverCommand =
  | { kind: 'secrets'; secrets: Record<string, string> }
  | { kind: 'stats'; id: number; latency: boolean }
  | { kind: 'close' };

/** Receiver -> bench. */
export type ReceiverReply =
  | { kind: 'ready'; ports: number[] }
  | { kind: 'stats'; id: number; stats: ReceiverStats }
  | { kind: 'error'; message: string };

interface PhaseState {
  unique: number;
  duplicateIds: number;
  duplicatePairs: number;
  firstAt: number;
  lastAt: number;
  latencies: number[];
}

const keys = new Map<string, Buffer>();
const ids = new Set<string>();
const pairs = new Set<string>();
const phases = new Map<string, PhaseState>(
  PHASES.map((p) => [p, { unique: 0, duplicateIds: 0, duplicatePairs: 0, firstAt: 0, lastAt: 0, latencies: [] }]),
);
let invalid = 0;
let other = 0;
let requests = 0;
const invalidSamples: string[] = [];

function reply(message: ReceiverReply): void {
  process.send?.(message);
}

function bad(why: string): void {
  invalid++;
  if (invalidSamples.length < 5) invalidSamples.push(why);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** True if one of the space-separated `v1,<base64>` signatures is the HMAC of `<id>.<timestamp>.<body>`. */
function verified(key: Buffer, id: string, timestamp: string, body: Buffer, signatures: string): boolean {
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  for (const sig of signatures.split(' ')) {
    if (!sig.startsWith('v1,')) continue;
    const given = Buffer.from(sig.slice(3), 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  }
  return false;
}

function record(req: IncomingMessage, body: Buffer): void {
  requests++;
  const path = (req.url ?? '/').split('?')[0];
  const key = keys.get(path);
  const id = header(req, 'webhook-id');
  const timestamp = header(req, 'webhook-timestamp');
  const signature = header(req, 'webhook-signature');
  if (!key) return bad(`unknown path ${path}`);
  if (!id || !timestamp || !signature) return bad(`missing signature headers on ${path}`);
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_S) {
    return bad(`stale or malformed webhook-timestamp ${timestamp}`);
  }
  if (!verified(key, id, timestamp, body, signature)) return bad(`signature mismatch for ${id} on ${path}`);

  let rfpId: unknown;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { type?: unknown; data?: { rfp_id?: unknown } };
    rfpId = parsed.type === 'rfp.created' ? parsed.data?.rfp_id : undefined;
  } catch {
    rfpId = undefined;
  }
  const match = typeof rfpId === 'string' ? /^([A-Z])\d+-(\d+)$/.exec(rfpId) : null;
  const state = match ? phases.get(match[1]) : undefined;
  if (!match || !state) {
    other++;
    return;
  }
  if (ids.has(id)) {
    state.duplicateIds++;
    return;
  }
  ids.add(id);
  const pair = `${path} ${rfpId as string}`;
  if (pairs.has(pair)) {
    state.duplicatePairs++;
    return;
  }
  pairs.add(pair);
  const now = Date.now();
  state.unique++;
  if (!state.firstAt) state.firstAt = now;
  state.lastAt = now;
  state.latencies.push(now - Number(match[2]));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    record(req, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    res.writeHead(204);
    res.end();
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function stats(latency: boolean): ReceiverStats {
  const out = {} as Record<Phase, PhaseStats>;
  for (const phase of PHASES) {
    const s = phases.get(phase) as PhaseState;
    const sorted = latency ? Float64Array.from(s.latencies).sort() : new Float64Array(0);
    out[phase] = {
      unique: s.unique,
      duplicateIds: s.duplicateIds,
      duplicatePairs: s.duplicatePairs,
      firstAt: s.firstAt,
      lastAt: s.lastAt,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1] : 0,
    };
  }
  return { phases: out, invalid, other, requests, invalidSamples: [...invalidSamples] };
}

async function listen(): Promise<Server> {
  const server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, handle);
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? '1');
  const servers = await Promise.all(Array.from({ length: count }, () => listen()));
  process.on('message', (message: ReceiverCommand) => {
    if (message.kind === 'secrets') {
      for (const [path, secret] of Object.entries(message.secrets)) {
        keys.set(path, Buffer.from(secret.replace(/^whsec_/, ''), 'base64'));
      }
    } else if (message.kind === 'stats') {
      reply({ kind: 'stats', id: message.id, stats: stats(message.latency) });
    } else {
      for (const server of servers) {
        server.closeAllConnections();
        server.close();
      }
      process.disconnect();
    }
  });
  process.on('disconnect', () => process.exit(0));
  reply({ kind: 'ready', ports: servers.map((s) => (s.address() as AddressInfo).port) });
}

main().catch((err: unknown) => {
  reply({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
});
