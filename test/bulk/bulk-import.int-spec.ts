import type { TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import { EventStore } from '@ipm/events';
import { EventTypeEntity } from '@ipm/catalog';
import type { BulkFormat, BulkImportTarget, BulkJobOptions } from '@ipm/bulk';
import { BulkJobEntity, PgBulkStorage } from '@ipm/bulk';
import { BulkRunner } from '@ipm/bulk';
import { EventImport } from '@ipm/bulk';
import { uniqueOrg } from '../support/api';
import {
  compileBulkModule,
  csvField,
  insertBulkJob,
  loadBulkJob,
  ndjson,
  range,
  readReport,
  type ReportLine,
} from '../support/bulk';
import { waitFor } from '../support/wait';

// Small chunks, so that a few dozen lines make several transactions; small parts, so that lines
// and multi-byte characters straddle part boundaries.
const CHUNK = 10;
process.env.BULK_CHUNK_LINES = String(CHUNK);
process.env.BULK_CHUNK_BYTES = String(64 * 1024);
const PART_SIZE = 512;

const event = (i: number, extra: Record<string, unknown> = {}) => ({
  event_type: 'rfp.cancelled',
  event_id: `imp-${i}`,
  payload: { rfp_id: `RFP-${i}`, reason: `reason ${i} – ünïcode` },
  ...extra,
});

describe('bulk import runner (events)', () => {
  let moduleRef: TestingModule;
  let ds: DataSource;
  let storage: PgBulkStorage;
  let runner: BulkRunner;
  let orgcode: string;

  beforeAll(async () => {
    ({ moduleRef, ds, storage } = await compileBulkModule({ partSize: PART_SIZE }));
    runner = moduleRef.get(BulkRunner);
  });

  afterAll(async () => {
    await moduleRef?.close();
  });

  beforeEach(() => {
    orgcode = uniqueOrg('bulkimp');
  });

  const createJob = (
    content: string | Buffer,
    format: BulkFormat = 'ndjson',
    options: BulkJobOptions = {},
    target: BulkImportTarget = 'events',
  ): Promise<string> => insertBulkJob(ds, storage, { orgcode, target, format, options, content });

  const loadJob = (job_id: string) => loadBulkJob(ds, job_id);

  const report = (job_id: string): Promise<ReportLine[]> => readReport(storage, orgcode, job_id);

  async function stored(): Promise<{ events: number; outbox: number; ids: string[] }> {
    const rows = await ds.query<Array<{ event_id: string }>>(
      `SELECT event_id FROM events WHERE orgcode = $1 AND source = 'api' ORDER BY seq`,
      [orgcode],
    );
    const [{ n }] = await ds.query<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM event_outbox o JOIN events e ON e.seq = o.event_seq
       WHERE o.orgcode = $1 AND e.source = 'api'`,
      [orgcode],
    );
    return { events: rows.length, outbox: n, ids: rows.map((r) => r.event_id) };
  }

  it('imports NDJSON events through the publish path: stored, with outbox rows, exact counters', async () => {
    const jobId = await createJob(ndjson(range(35).map((i) => event(i))));
    await expect(runner.runJob(jobId)).resolves.toBe('completed');

    const job = await loadJob(jobId);
    expect(job).toMatchObject({
      status: 'completed',
      processed: 35,
      succeeded: 35,
      failed: 0,
      total_lines: 35,
      last_processed_line: 35,
      error: null,
    });
    expect(job.started_at).toBeInstanceOf(Date);
    expect(job.finished_at).toBeInstanceOf(Date);
    const s = await stored();
    expect(s).toEqual({ events: 35, outbox: 35, ids: range(35).map((i) => `imp-${i}`) });
    const [row] = await ds.query<Array<{ source: string; actor: string; payload: unknown }>>(
      `SELECT source, actor, payload FROM events WHERE orgcode = $1 AND event_id = 'imp-7'`,
      [orgcode],
    );
    expect(row).toEqual({ source: 'api', actor: 'user_importer', payload: event(7).payload });
    expect(await report(jobId)).toEqual([]);
    // A second run of a finished job does nothing.
    await expect(runner.runJob(jobId)).resolves.toBe('completed');
    expect((await stored()).events).toBe(35);
  });

  it('imports CSV events (quoted multi-line JSON payloads, optional columns, CRLF) and fills in event ids', async () => {
    const lines = ['event_type,payload,event_id,occurred_at,channel_code'];
    for (const i of range(23)) {
      const id = i % 2 === 0 ? `csv-${i}` : '';
      lines.push(
        `rfp.cancelled,${csvField(JSON.stringify({ rfp_id: `R-${i}`, reason: 'a, "quoted"\nreason' }, null, 1).replace(/\n/g, '\r\n'))},${id},2026-01-02T03:04:05Z,pos`,
      );
    }
    const jobId = await createJob(lines.join('\r\n') + '\r\n', 'csv');
    await expect(runner.runJob(jobId)).resolves.toBe('completed');

    expect(await loadJob(jobId)).toMatchObject({ processed: 23, succeeded: 23, failed: 0 });
    const s = await stored();
    expect(s.events).toBe(23);
    expect(s.outbox).toBe(23);
    expect(s.ids.filter((id) => id.startsWith('csv-'))).toHaveLength(11);
    expect(s.ids.filter((id) => id.startsWith('evt_'))).toHaveLength(12);
    const [row] = await ds.query<Array<{ payload: unknown; channel_code: string; occurred_at: Date }>>(
      `SELECT payload, channel_code, occurred_at FROM events WHERE orgcode = $1 AND event_id = 'csv-4'`,
      [orgcode],
    );
    expect(row.payload).toEqual({ rfp_id: 'R-4', reason: 'a, "quoted"\nreason' });
    expect(row.channel_code).toBe('pos');
    expect(row.occurred_at.toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });

  it('reports every bad NDJSON line (line, error, raw) and lands the rest', async () => {
    const text = [
      JSON.stringify(event(1)), // 1
      '{"event_type": "rfp.cancelled", "payload": {', // 2 malformed
      JSON.stringify(event(3, { payload: { reason: 'no id' } })), // 3 schema violation
      '', // 4 blank: skipped, not counted
      JSON.stringify(event(1)), // 5 duplicate of line 1
      JSON.stringify(event(6, { event_type: 'nope.unknown' })), // 6 unknown type
      '[1,2]', // 7 not an object
      JSON.stringify(event(8, { extra: 1 })), // 8 unknown property
      JSON.stringify(event(9, { occurred_at: '2026-01-01T00:00:00' })), // 9 no zone
      JSON.stringify(event(10)), // 10
    ].join('\n');
    const jobId = await createJob(text + '\n');
    await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');

    expect(await loadJob(jobId)).toMatchObject({ processed: 9, succeeded: 2, failed: 7, last_processed_line: 10 });
    expect((await stored()).ids).toEqual(['imp-1', 'imp-10']);
    const lines = await report(jobId);
    expect(lines.map((l) => l.line)).toEqual([2, 3, 5, 6, 7, 8, 9]);
    expect(lines[0]).toEqual({
      line: 2,
      error: expect.stringMatching(/^malformed JSON: /) as string,
      raw: '{"event_type": "rfp.cancelled", "payload": {',
    });
    expect(lines[1].error).toMatch(/^payload does not match rfp.cancelled v1: .*rfp_id/);
    expect(lines[1].raw).toBe(JSON.stringify(event(3, { payload: { reason: 'no id' } })));
    expect(lines[2].error).toBe('duplicate event_id imp-1: repeats line 1');
    expect(lines[3].error).toMatch(/^unknown event type "nope.unknown"/);
    expect(lines[4].error).toBe('expected a JSON object, got an array');
    expect(lines[5].error).toBe('property extra should not exist');
    expect(lines[6].error).toBe('occurred_at must carry a time zone (Z or +hh:mm)');
  });

  it("validates against a tenant's schema off the event loop: a line cut off at the deadline is reported, the rest land", async () => {
    const now = new Date();
    await ds.getRepository(EventTypeEntity).insert({
      orgcode,
      event_type: 'shop.ab',
      service: 'shop',
      action: 'ab',
      version: 1,
      description: 'ab',
      schema: { type: 'object', properties: { s: { type: 'string', pattern: '^(?:a|b|ab|ba)*$' } } },
      specimen: {},
      deprecated_at: null,
      created_at: now,
      created_by: 'test',
      updated_at: now,
      updated_by: 'test',
      revision: 1,
    });
    const line = (i: number, s: string) => ({ event_type: 'shop.ab', event_id: `ab-${i}`, payload: { s } });
    // ~300 ms for the linear engine: six times the 50 ms deadline.
    const slow = `${'ab'.repeat(450_000)}!`;
    const jobId = await createJob(ndjson([line(1, 'ab'), line(2, slow), line(3, 'abc'), line(4, 'ba')]));
    await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');
    expect(await loadJob(jobId)).toMatchObject({ processed: 4, succeeded: 2, failed: 2 });
    expect((await stored()).ids).toEqual(['ab-1', 'ab-4']);
    const lines = await report(jobId);
    expect(lines.map((l) => [l.line, l.error.replace(/:.*/, '')])).toEqual([
      [2, 'validating the payload against shop.ab v1 ran past its 50 ms deadline and was cut off'],
      [3, 'payload does not match shop.ab v1'],
    ]);
  });

  it('reports bad CSV rows (wrong column count, bad payload JSON, duplicate within a chunk) and lands the rest', async () => {
    const good = (i: number) => `rfp.cancelled,${csvField(JSON.stringify({ rfp_id: `R-${i}` }))},dup-${i}`;
    const text = [
      'event_type,payload,event_id', // 1
      good(1), // 2
      'rfp.cancelled,{}', // 3 wrong column count
      `rfp.cancelled,${csvField('{"rfp_id":')},x-3`, // 4 payload not JSON
      good(1), // 5 duplicate within the chunk
      `rfp.cancelled,${csvField('{}')},x-5`, // 6 schema violation
      good(6), // 7
    ].join('\n');
    const jobId = await createJob(text, 'csv');
    await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');

    expect(await loadJob(jobId)).toMatchObject({ processed: 6, succeeded: 2, failed: 4 });
    expect((await stored()).ids).toEqual(['dup-1', 'dup-6']);
    const lines = await report(jobId);
    expect(lines).toEqual([
      { line: 3, error: 'expected 3 columns, got 2', raw: 'rfp.cancelled,{}' },
      {
        line: 4,
        error: expect.stringMatching(/^payload is not valid JSON: /) as string,
        raw: expect.any(String) as string,
      },
      { line: 5, error: 'duplicate event_id dup-1: repeats line 2', raw: good(1) },
      {
        line: 6,
        error: expect.stringMatching(/^payload does not match rfp.cancelled v1/) as string,
        raw: `rfp.cancelled,${csvField('{}')},x-5`,
      },
    ]);
  });

  it.each([
    ['binary garbage', Buffer.from(range(4096).map((i) => (i * 7919) % 256)), 'ndjson', /looks binary|NUL bytes/],
    ['a JSON array', Buffer.from('[{"a":1},\n{"b":2}]\n'), 'ndjson', /JSON array/],
    ['an empty file', Buffer.alloc(0), 'ndjson', /empty/],
    ['NDJSON declared as CSV', Buffer.from(ndjson([event(1)])), 'csv', /looks like JSON/],
    [
      'CSV without the payload column',
      Buffer.from('event_type,event_id\nrfp.cancelled,a\n'),
      'csv',
      /lacks the column\(s\) payload/,
    ],
  ] as const)('fails a file that is not the declared format: %s', async (_name, content, format, reason) => {
    const jobId = await createJob(content, format);
    await expect(runner.runJob(jobId)).resolves.toBe('failed');
    const job = await loadJob(jobId);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(reason);
    expect(job.processed).toBe(0);
    expect((await stored()).events).toBe(0);
  });

  it('cancelled and continued while a chunk runs: the same run takes the job up again from its checkpoint', async () => {
    const jobId = await createJob(ndjson(range(45).map((i) => event(i))));
    const target = moduleRef.get(EventImport);
    const apply = target.apply.bind(target);
    let calls = 0;
    let continued: Promise<unknown> | undefined;
    jest.spyOn(target, 'apply').mockImplementation(async (...args) => {
      if (++calls === 2) {
        // Cancel then continue land as one change (the row is locked by this chunk until it commits):
        // the continue found this BullMQ job still active, so nothing else will run the job.
        continued = ds.query(`UPDATE bulk_jobs SET status = 'queued' WHERE job_id = $1`, [jobId]);
        await waitFor('the continue to wait for the job row', async () => {
          const [{ n }] = await ds.query<Array<{ n: number }>>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE bulk_jobs SET status = ''queued''%'`,
          );
          return n > 0 ? true : undefined;
        });
      }
      return apply(...args);
    });
    try {
      await expect(runner.runJob(jobId)).resolves.toBe('completed');
    } finally {
      jest.restoreAllMocks();
    }
    await continued;
    expect(await loadJob(jobId)).toMatchObject({ status: 'completed', processed: 45, succeeded: 45, failed: 0 });
    expect((await stored()).ids).toEqual(range(45).map((i) => `imp-${i}`));
  });

  it('ends a chunk early once its lines hold BULK_CHUNK_BYTES: long lines make small transactions', async () => {
    // ~30 KB lines: valid JSON, padded with whitespace.
    const long = (i: number) => JSON.stringify(event(i)).replace('{', `{${' '.repeat(30_000)}`);
    const jobId = await createJob(range(9).map(long).join('\n') + '\n');
    const store = moduleRef.get(EventStore);
    const original = store.insertPrepared.bind(store);
    const sizes: number[] = [];
    const spy = jest.spyOn(store, 'insertPrepared').mockImplementation((em, batch) => {
      // (The job's own ipm.bulk.job.completed event is stored through here too.)
      if (batch.rows[0]?.source === 'api') sizes.push(batch.rows.length);
      return original(em, batch);
    });
    try {
      await expect(runner.runJob(jobId)).resolves.toBe('completed');
    } finally {
      spy.mockRestore();
    }
    // 64 KiB per chunk: the third ~30 KB line passes it, so chunks of 3 (not of BULK_CHUNK_LINES, 10).
    expect(sizes).toEqual([3, 3, 3]);
    expect(await loadJob(jobId)).toMatchObject({ processed: 9, succeeded: 9, last_processed_line: 9 });
  });

  it('stops after the current chunk on abort, goes back to queued, and resumes without loss or repeat', async () => {
    const rows: unknown[] = range(45).map((i) => event(i));
    rows[12] = '{broken'; // a bad line in chunk 2 goes to the report exactly once
    const text = rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');
    const jobId = await createJob(text);

    const store = moduleRef.get(EventStore);
    const controller = new AbortController();
    let calls = 0;
    const original = store.insertPrepared.bind(store);
    const spy = jest.spyOn(store, 'insertPrepared').mockImplementation((em, batch) => {
      if (++calls === 2) controller.abort();
      return original(em, batch);
    });
    try {
      await expect(runner.runJob(jobId, { signal: controller.signal })).rejects.toThrow(
        /interrupted by shutdown after line 20/,
      );
    } finally {
      spy.mockRestore();
    }
    expect(await loadJob(jobId)).toMatchObject({
      status: 'queued',
      processed: 20,
      succeeded: 19,
      failed: 1,
      last_processed_line: 20,
    });
    expect((await stored()).events).toBe(19);

    await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');
    expect(await loadJob(jobId)).toMatchObject({ processed: 45, succeeded: 44, failed: 1, total_lines: 45 });
    const s = await stored();
    expect(s.events).toBe(44);
    expect(s.outbox).toBe(44);
    expect(s.ids).toEqual(
      range(45)
        .filter((i) => i !== 13)
        .map((i) => `imp-${i}`),
    );
    expect((await report(jobId)).map((l) => l.line)).toEqual([13]);
  });

  it('a crash inside chunk 3 rolls the whole chunk back; the run after it (from `running`) resumes exactly there', async () => {
    const text = ndjson(range(50).map((i) => event(i, { event_id: undefined, payload: { rfp_id: `P-${i}` } })));
    const jobId = await createJob(text.replace('"P-25"', '"P-25",1'));
    const store = moduleRef.get(EventStore);
    let calls = 0;
    const original = store.insertPrepared.bind(store);
    const spy = jest.spyOn(store, 'insertPrepared').mockImplementation(async (em, batch) => {
      const result = await original(em, batch);
      if (++calls === 3) throw new Error('worker killed mid-chunk');
      return result;
    });
    try {
      await expect(runner.runJob(jobId)).rejects.toThrow('worker killed mid-chunk');
    } finally {
      spy.mockRestore();
    }
    expect(await loadJob(jobId)).toMatchObject({ status: 'running', processed: 20, last_processed_line: 20 });
    expect((await stored()).events).toBe(20);
    expect(await report(jobId)).toEqual([]);

    await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');
    expect(await loadJob(jobId)).toMatchObject({ processed: 50, succeeded: 49, failed: 1 });
    const payloads = await ds.query<Array<{ rfp_id: string }>>(
      `SELECT payload->>'rfp_id' AS rfp_id FROM events WHERE orgcode = $1 AND source = 'api' ORDER BY seq`,
      [orgcode],
    );
    expect(payloads.map((p) => p.rfp_id)).toEqual(
      range(50)
        .filter((i) => i !== 25)
        .map((i) => `P-${i}`),
    );
    expect((await stored()).outbox).toBe(49);
    expect((await report(jobId)).map((l) => l.line)).toEqual([25]);
  });

  it('honours a cancel between chunks: the committed chunks stay, nothing after them lands', async () => {
    const jobId = await createJob(ndjson(range(40).map((i) => event(i))));
    const store = moduleRef.get(EventStore);
    const target = moduleRef.get(EventImport);
    // Cancelled (as /bulk/job/cancel does) while chunk 2 is in flight: the cancel waits for the job
    // row and lands when chunk 2 commits. Chunk 3 (prepared meanwhile) starts only after it landed.
    let issued: () => void = () => undefined;
    const cancelIssued = new Promise<void>((resolve) => (issued = resolve));
    let cancelling: Promise<unknown> = Promise.resolve();
    const insert = store.insertPrepared.bind(store);
    let inserts = 0;
    jest.spyOn(store, 'insertPrepared').mockImplementation(async (em, batch) => {
      const result = await insert(em, batch);
      if (++inserts === 2) {
        cancelling = ds.query(`UPDATE bulk_jobs SET status = 'cancelled', revision = revision + 1 WHERE job_id = $1`, [
          jobId,
        ]);
        issued();
      }
      return result;
    });
    const prepare = target.prepare.bind(target);
    let prepares = 0;
    jest.spyOn(target, 'prepare').mockImplementation(async (...args) => {
      if (++prepares === 3) {
        await cancelIssued;
        await cancelling;
      }
      return prepare(...args);
    });
    try {
      await expect(runner.runJob(jobId)).resolves.toBe('cancelled');
    } finally {
      jest.restoreAllMocks();
    }
    const job = await loadJob(jobId);
    expect(job).toMatchObject({ status: 'cancelled', processed: 20, succeeded: 20, last_processed_line: 20 });
    expect((await stored()).events).toBe(20);
    // Not queued: a second delivery of the job does nothing.
    await expect(runner.runJob(jobId)).resolves.toBe('cancelled');
    expect((await stored()).events).toBe(20);
  });

  it('dry_run validates and reports but stores nothing', async () => {
    const first = await createJob(ndjson([event(1)]));
    await runner.runJob(first);
    const jobId = await createJob(
      ndjson([...range(12, 2).map((i) => event(i)), event(1), event(99, { payload: {} })]),
      'ndjson',
      {
        dry_run: true,
      },
    );
    await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');
    expect(await loadJob(jobId)).toMatchObject({ processed: 14, succeeded: 12, failed: 2 });
    expect((await stored()).ids).toEqual(['imp-1']);
    expect((await report(jobId)).map((l) => [l.line, l.error.slice(0, 25)])).toEqual([
      [13, 'duplicate event_id imp-1:'],
      [14, 'payload does not match rf'],
    ]);
  });

  it('fails a job whose target is unknown with a clear error, and says so in ipm.bulk.job.failed', async () => {
    const jobId = await createJob(ndjson([event(1)]));
    await ds.query(`UPDATE bulk_jobs SET target = 'nonsense' WHERE job_id = $1`, [jobId]);
    await expect(runner.runJob(jobId)).resolves.toBe('failed');
    expect(await loadJob(jobId)).toMatchObject({ status: 'failed', error: 'nonsense is not an import target' });
    expect((await stored()).events).toBe(0);
    const [failed] = await ds.query<Array<{ payload: Record<string, unknown> }>>(
      `SELECT payload FROM events WHERE orgcode = $1 AND event_type = 'ipm.bulk.job.failed'`,
      [orgcode],
    );
    expect(failed.payload).toMatchObject({
      job_id: jobId,
      status: 'failed',
      error: 'nonsense is not an import target',
    });
  });

  it('emits ipm.bulk.job.completed with the final counts in the last chunk, and sets the expiry from the finish', async () => {
    const jobId = await createJob(ndjson([event(1), event(2), { nope: true }]));
    await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');
    const rows = await ds.query<Array<{ payload: Record<string, unknown>; logical_guid: string }>>(
      `SELECT payload, logical_guid FROM events WHERE orgcode = $1 AND event_type = 'ipm.bulk.job.completed'`,
      [orgcode],
    );
    expect(rows).toEqual([
      {
        logical_guid: jobId,
        payload: {
          job_id: jobId,
          job_type: 'import',
          target: 'events',
          format: 'ndjson',
          status: 'completed_with_errors',
          processed: 3,
          failed: 1,
        },
      },
    ]);
    const job = await loadJob(jobId);
    const ttl = Number(process.env.BULK_FILE_TTL_DAYS ?? 7) * 86_400_000;
    expect(job.expires_at.getTime() - (job.finished_at?.getTime() ?? 0)).toBe(ttl);
  });

  it('does nothing for a job that is not queued or running, or does not exist', async () => {
    const jobId = await createJob(ndjson([event(1)]));
    await ds.getRepository(BulkJobEntity).update({ job_id: jobId }, { status: 'awaiting_upload' });
    await expect(runner.runJob(jobId)).resolves.toBe('awaiting_upload');
    await expect(runner.runJob('job_missing')).resolves.toBe('missing');
    expect((await stored()).events).toBe(0);
  });
});
