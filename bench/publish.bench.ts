import autocannon from 'autocannon';
import { Client } from 'pg';
import { loadConfig } from '@ipm/core';
import { Figure, fmt, line, section, verdict } from './report';
import { deleteKeysWithPrefix, dropDatabase } from '../test/support/cleanup';
import { API_MAIN, benchEnv, freePort, runCli, Server } from './processes';

export interface PublishBenchOptions {
  /** Concurrent publishers (keep-alive connections for the api, pg connections for the raw insert). */
  clients: number;
  /** Seconds per measured run (the api run is preceded by a 1 s warm-up). */
  duration: number;
}

/** Events per request, as in the issue ("batches of 100"). */
const BATCH = 100;
/**
 * The limits (issue 3): at least 10,000 events/s accepted by /event/publish on a 2-core machine, and at
 * least 35 % of what PostgreSQL itself takes for the same rows with multi-row INSERTs (measured in this
 * run, on this machine, into a table of the same shape: columns, constraints and indexes).
 */
const PUBLISH_MIN_EVENTS = 10_000;
const PUBLISH_MIN_SHARE_OF_RAW = 35;

const DATABASE = 'ipm_bench_publish';
const QUEUE_PREFIX = 'ipm-bench-publish';
const ORG = 'bench';

async function withClient<T>(databaseUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** An `rfp.created` payload of about 1 KiB that validates against the shipped schema. */
function rfpPayload(i: number): Record<string, unknown> {
  return {
    rfp_id: `RFP-2026-${String(i).padStart(6, '0')}`,
    title: `Fleet telematics for ${400 + i} vehicles, with installation, training and five years of support`,
    buyer: {
      org_id: `ORG-${i % 97}`,
      name: `Acme Logistics ${i}: ${'regional distribution, cold chain and last-mile delivery; '.repeat(14)}`.trim(),
    },
    due_at: '2026-03-01T17:00:00Z',
    budget: { amount: '250000.00', currency: 'EUR' },
    status: 'open',
  };
}

interface BenchEvent {
  event_type: string;
  payload: Record<string, unknown>;
  logical_guid: string;
}

function batch(): BenchEvent[] {
  return Array.from({ length: BATCH }, (_, i) => ({
    event_type: 'rfp.created',
    payload: rfpPayload(i),
    logical_guid: `RFP-2026-${String(i).padStart(6, '0')}`,
  }));
}

const RAW_COLUMNS = [
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

/**
 * PostgreSQL's own rate for the same rows: `clients` connections each sending multi-row INSERTs of
 * BATCH rows (one statement, autocommit) into a copy of `events` (LIKE ... INCLUDING ALL: same
 * columns, identity, constraints and indexes) for `duration` seconds. No ORM, no HTTP, no outbox.
 */
async function rawInsertRate(databaseUrl: string, options: PublishBenchOptions, table: string): Promise<number> {
  await withClient(databaseUrl, (c) =>
    c.query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (LIKE events INCLUDING ALL)`),
  );
  const events = batch();
  const tuples = events.map(
    (_, r) => `(${RAW_COLUMNS.map((_c, k) => `$${r * RAW_COLUMNS.length + k + 1}`).join(', ')})`,
  );
  const sql = `INSERT INTO ${table} (${RAW_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`;
  let seq = 0;
  const params = (): unknown[] => {
    const now = new Date().toISOString();
    return events.flatMap((e) => [
      `raw_${++seq}`,
      ORG,
      null,
      e.event_type,
      'rfp',
      'created',
      JSON.stringify(e.payload),
      e.logical_guid,
      null,
      'api',
      'bench',
      now,
      now,
    ]);
  };
  let rows = 0;
  const started = process.hrtime.bigint();
  const deadline = Date.now() + options.duration * 1000;
  await Promise.all(
    Array.from({ length: options.clients }, () =>
      withClient(databaseUrl, async (c) => {
        while (Date.now() < deadline) {
          const res = await c.query(sql, params());
          rows += res.rowCount ?? 0;
        }
      }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await withClient(databaseUrl, (c) => c.query(`DROP TABLE ${table}`));
  return rows / seconds;
}

async function countEvents(databaseUrl: string): Promise<{ events: number; outbox: number }> {
  return withClient(databaseUrl, async (c) => {
    const res = await c.query<{ events: number; outbox: number }>(
      `SELECT (SELECT count(*)::int FROM events WHERE orgcode = $1) AS events,
              (SELECT count(*)::int FROM event_outbox WHERE orgcode = $1) AS outbox`,
      [ORG],
    );
    return res.rows[0];
  });
}

export async function runPublishBenchmark(options: PublishBenchOptions): Promise<Figure[]> {
  const port = await freePort();
  const env = benchEnv(DATABASE, QUEUE_PREFIX, port);
  const databaseUrl = env.DATABASE_URL as string;
  await dropDatabase(databaseUrl); // a fresh database every run
  runCli(['migrate'], env);
  const jwt = runCli(['token', '--org', ORG, '--permissions', 'publish_events', '--sub', 'bench'], env);
  const body = JSON.stringify({ events: batch() });

  const api = await Server.start('api-publish', [API_MAIN], env, port, '/ipm/stat');
  let result: autocannon.Result;
  let rawBefore: number;
  let rawAfter: number;
  let stored: number;
  let outbox: number;
  try {
    const load: autocannon.Options = {
      url: `${api.baseUrl}/ipm/event/publish`,
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'x-orgcode': ORG, 'content-type': 'application/json' },
      body,
      connections: options.clients,
    };
    // Every event must really be stored before we time anything.
    const probe = await fetch(load.url, { method: 'POST', headers: load.headers, body });
    const first = (await probe.json()) as { data?: { stored?: number } };
    if (probe.status !== 200 || first.data?.stored !== BATCH) {
      throw new Error(`POST /ipm/event/publish did not store a batch of ${BATCH}: ${JSON.stringify(first)}`);
    }

    // The limit, measured around the api run so that both see the same machine.
    rawBefore = await rawInsertRate(databaseUrl, options, 'bench_raw_events');
    await autocannon({ ...load, duration: 1 }); // JIT, pools, sockets
    const before = await countEvents(databaseUrl);
    result = await autocannon({ ...load, duration: options.duration });
    const after = await countEvents(databaseUrl);
    stored = after.events - before.events;
    outbox = after.outbox - before.outbox;
    rawAfter = await rawInsertRate(databaseUrl, options, 'bench_raw_events');
  } finally {
    await api.stop();
    await dropDatabase(databaseUrl);
    await deleteKeysWithPrefix(loadConfig(env).REDIS_URL, QUEUE_PREFIX);
  }

  const failed = result.non2xx + result.errors + result.timeouts;
  const eventsPerSecond = stored / result.duration;
  const raw = (rawBefore + rawAfter) / 2;
  const share = (100 * eventsPerSecond) / Math.max(1, raw);
  if (outbox !== stored) throw new Error(`outbox rows (${outbox}) differ from stored events (${stored})`);

  const figures: Figure[] = [
    {
      name: 'POST /ipm/event/publish events stored',
      value: eventsPerSecond,
      unit: 'ops/s',
      bound: 'min',
      target: PUBLISH_MIN_EVENTS,
      raw,
    },
    {
      name: 'POST /ipm/event/publish vs raw INSERT',
      value: share,
      unit: '%',
      bound: 'min',
      target: PUBLISH_MIN_SHARE_OF_RAW,
    },
    { name: 'POST /ipm/event/publish failed responses', value: failed, unit: 'responses', bound: 'max', target: 0 },
  ];
  section(
    `(p) POST /ipm/event/publish, batches of ${BATCH} rfp.created events of ~${fmt(
      Buffer.byteLength(JSON.stringify(rfpPayload(0))),
    )} B, ${options.clients} clients, ${options.duration} s`,
    [
      `api: ${fmt(eventsPerSecond)} events/s stored (${fmt(stored)} events and as many outbox rows in ` +
        `${fmt(result.duration, 1)} s; ${fmt(result.requests.average)} req/s, latency p50 ${fmt(result.latency.p50, 1)} ms, ` +
        `p99 ${fmt(result.latency.p99, 1)} ms, ${failed} failed)`,
      `raw PostgreSQL: ${fmt(raw)} rows/s (multi-row INSERT of ${BATCH} rows via pg, ${options.clients} connections, ` +
        `into a copy of events with its indexes; ${fmt(rawBefore)} before and ${fmt(rawAfter)} after the api run)`,
      `ratio: the api stores ${fmt(share, 1)} % of the raw rate; per batch it also authenticates, validates 100 payloads`,
      'against the catalog schema, writes the outbox rows and an audit row, and answers a status per event',
      `limits: >= ${fmt(PUBLISH_MIN_EVENTS)} events/s (issue 3) and >= ${PUBLISH_MIN_SHARE_OF_RAW} % of the raw rate measured in this run`,
    ],
  );
  for (const f of figures) line(verdict(f));
  return figures;
}
