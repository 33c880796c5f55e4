import type { TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import { IdPrefix, newId } from '@ipm/core';
import { toAuditRecord } from '@ipm/audit';
import type { AuditLogEntity } from '@ipm/audit';
import { toCdcEvent } from '@ipm/events';
import type { EventEntity } from '@ipm/events';
import { EventStore, NewEvent } from '@ipm/events';
import { toDeliveryDto } from '@ipm/webhooks';
import type { DeliveryEntity } from '@ipm/webhooks';
import { parseCsv } from '@ipm/bulk';
import type { BulkExportTarget, BulkFormat, BulkJobOptions } from '@ipm/bulk';
import { PgBulkStorage } from '@ipm/bulk';
import { AUDIT_EXPORT_COLUMNS } from '@ipm/bulk';
import { BulkRunner } from '@ipm/bulk';
import { DELIVERY_EXPORT_COLUMNS } from '@ipm/bulk';
import { EVENT_EXPORT_COLUMNS, EventExport } from '@ipm/bulk';
import { uniqueOrg } from '../support/api';
import { compileBulkModule, insertBulkJob, loadBulkJob, readBulkObject } from '../support/bulk';
import { insertDelivery } from '../support/deliveries';

// Small chunks, so that a few dozen rows make several transactions (and several parts).
const CHUNK = 10;
process.env.BULK_CHUNK_LINES = String(CHUNK);

type Doc = Record<string, unknown>;

describe('bulk export runner (events, deliveries, audit)', () => {
  let moduleRef: TestingModule;
  let ds: DataSource;
  let storage: PgBulkStorage;
  let runner: BulkRunner;
  let store: EventStore;
  let orgcode: string;

  beforeAll(async () => {
    ({ moduleRef, ds, storage } = await compileBulkModule());
    runner = moduleRef.get(BulkRunner);
    store = moduleRef.get(EventStore);
  });

  afterAll(async () => {
    await moduleRef?.close();
  });

  beforeEach(() => {
    orgcode = uniqueOrg('bulkexp');
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  const createJob = (
    target: BulkExportTarget,
    format: BulkFormat = 'ndjson',
    options: BulkJobOptions = {},
    appId: string | null = null,
  ): Promise<string> =>
    insertBulkJob(ds, storage, {
      orgcode,
      target,
      job_type: 'export',
      format,
      options,
      app_id: appId,
      created_by: 'user_exporter',
    });

  const loadJob = (job_id: string) => loadBulkJob(ds, job_id);

  const file = async (jobId: string, org = orgcode): Promise<string> =>
    (await readBulkObject(storage, { orgcode: org, jobId, kind: 'export' })).toString('utf8');

  const ndjsonDocs = async (jobId: string): Promise<Doc[]> =>
    (await file(jobId))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Doc);

  async function csvRecords(jobId: string): Promise<{ header: string; rows: Array<Record<string, string>> }> {
    const text = await file(jobId);
    const rows: Array<Record<string, string>> = [];
    const source = storage.read({ orgcode, jobId, kind: 'export' });
    for await (const record of parseCsv(source, { maxLineBytes: 1 << 20 })) {
      expect(record.error).toBeUndefined();
      rows.push({ ...record.fields });
    }
    return { header: text.slice(0, text.indexOf('\r\n')), rows };
  }

  /** The value a CSV field holds for a doc's value: empty for null, JSON text for objects. */
  const csvText = (value: unknown): string => {
    if (value === null || value === undefined) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  };

  async function publish(org: string, n: number, extra: (i: number) => Partial<NewEvent> = () => ({})) {
    const rows = Array.from({ length: n }, (_, i): NewEvent => ({
      event_id: `exp-${i + 1}`,
      orgcode: org,
      app_id: null,
      event_type: 'rfp.created',
      service: 'rfp',
      action: 'created',
      payload: { rfp_id: `RFP-${i + 1}`, note: `line "${i + 1}",\nwith a comma – ünïcode` },
      logical_guid: null,
      channel_code: null,
      source: 'api',
      actor: 'user_publisher',
      occurred_at: new Date(Date.UTC(2026, 0, 1, 0, i)),
      ...extra(i),
    }));
    await ds.transaction((em) => store.insert(em, rows));
  }

  async function eventsInDb(where = ''): Promise<Doc[]> {
    const rows = await ds.query<EventEntity[]>(
      `SELECT * FROM events WHERE orgcode = $1 AND source = 'api' ${where} ORDER BY tx_id, seq`,
      [orgcode],
    );
    return rows.map((r) => JSON.parse(JSON.stringify(toCdcEvent(r))) as Doc);
  }

  it('exports events as NDJSON in change-feed order, exactly the tenant’s rows, one part per chunk', async () => {
    await publish(orgcode, 23);
    await publish(orgcode, 14, (i) => ({
      event_id: `exp-b-${i}`,
      event_type: 'rfp.cancelled',
      action: 'cancelled',
      logical_guid: `guid "${i}" \\ \t – ü \u2028 </script>`,
      channel_code: `web.${i}`,
      app_id: i % 2 ? 'app_x' : null,
    }));
    await publish(uniqueOrg('bulkexp-other'), 9);
    const jobId = await createJob('events');

    await expect(runner.runJob(jobId)).resolves.toBe('completed');
    expect(await ndjsonDocs(jobId)).toEqual(await eventsInDb());
    const job = await loadJob(jobId);
    expect(job).toMatchObject({ status: 'completed', total_lines: 37, processed: 37, succeeded: 37, failed: 0 });
    expect(job.cursor).toMatch(/^\d+\.\d+$/);
    expect(job.finished_at).not.toBeNull();
    expect((await storage.size({ orgcode, jobId, kind: 'export' })).parts).toBe(4);
    const [done] = await ds.query<Array<{ payload: Doc }>>(
      `SELECT payload FROM events WHERE orgcode = $1 AND event_type = 'ipm.bulk.job.completed'`,
      [orgcode],
    );
    expect(done.payload).toMatchObject({ job_id: jobId, job_type: 'export', status: 'completed', processed: 37 });
  });

  it('exports events as CSV: the header, then one RFC 4180 record per event (payload as JSON text)', async () => {
    await publish(orgcode, 12);
    const jobId = await createJob('events', 'csv');
    await expect(runner.runJob(jobId)).resolves.toBe('completed');
    const { header, rows } = await csvRecords(jobId);
    expect(header).toBe(EVENT_EXPORT_COLUMNS.join(','));
    // The payload cell is PostgreSQL's JSON text of it (its own spacing): the same JSON value.
    const withPayload = (r: Record<string, unknown>) => ({ ...r, payload: JSON.parse(r.payload as string) as unknown });
    const expected = (await eventsInDb()).map((d) =>
      Object.fromEntries(EVENT_EXPORT_COLUMNS.map((c) => [c, csvText(d[c])])),
    );
    expect(rows.map(withPayload)).toEqual(expected.map(withPayload));
    expect(JSON.parse(rows[0].payload)).toEqual({ rfp_id: 'RFP-1', note: 'line "1",\nwith a comma – ünïcode' });
  });

  it('applies the filters: event type and the occurred_at window [from, to)', async () => {
    await publish(orgcode, 30);
    await publish(orgcode, 5, (i) => ({ event_id: `other-${i}`, event_type: 'rfp.cancelled', action: 'cancelled' }));
    const jobId = await createJob('events', 'ndjson', {
      event_type: 'rfp.created',
      from_utc: '2026-01-01T00:05:00Z',
      to_utc: '2026-01-01T00:17:00Z',
    });
    await expect(runner.runJob(jobId)).resolves.toBe('completed');
    const docs = await ndjsonDocs(jobId);
    expect(docs.map((d) => d.event_id)).toEqual(Array.from({ length: 12 }, (_, i) => `exp-${i + 6}`));
    expect(await loadJob(jobId)).toMatchObject({ total_lines: 12, processed: 12 });
  });

  it('an app-bound job exports only its app’s events', async () => {
    await publish(orgcode, 6, (i) => ({ app_id: i % 2 === 0 ? 'app_a' : 'app_b' }));
    const jobId = await createJob('events', 'ndjson', {}, 'app_a');
    await runner.runJob(jobId);
    expect((await ndjsonDocs(jobId)).map((d) => d.event_id)).toEqual(['exp-1', 'exp-3', 'exp-5']);
  });

  it('an empty export completes: no rows in NDJSON, the header alone in CSV', async () => {
    const ndjson = await createJob('events');
    const csv = await createJob('audit', 'csv', { from_utc: '2001-01-01T00:00:00Z', to_utc: '2001-01-02T00:00:00Z' });
    await expect(runner.runJob(ndjson)).resolves.toBe('completed');
    await expect(runner.runJob(csv)).resolves.toBe('completed');
    expect(await file(ndjson)).toBe('');
    expect(await file(csv)).toBe(AUDIT_EXPORT_COLUMNS.join(',') + '\r\n');
    expect(await loadJob(ndjson)).toMatchObject({ status: 'completed', total_lines: 0, processed: 0 });
  });

  it('exports deliveries (filters webhook and status) compared with the database, in NDJSON and CSV', async () => {
    const whk = newId(IdPrefix.Webhook);
    const otherWhk = newId(IdPrefix.Webhook);
    for (let i = 0; i < 25; i++) {
      await insertDelivery(ds, {
        orgcode,
        webhook_id: i % 5 === 0 ? otherWhk : whk,
        status: i % 3 === 0 ? 'dead_letter' : 'success',
        event_type: i % 2 ? 'rfp.created' : 'billing.invoice_paid',
      });
    }
    await insertDelivery(ds, { orgcode: uniqueOrg('bulkexp-other'), webhook_id: whk, status: 'success' });
    const inDb = async (where: string, params: unknown[] = []) =>
      (
        await ds.query<DeliveryEntity[]>(`SELECT * FROM deliveries WHERE orgcode = $1 ${where} ORDER BY delivery_id`, [
          orgcode,
          ...params,
        ])
      ).map((r) => JSON.parse(JSON.stringify(toDeliveryDto(r))) as Doc);

    const all = await createJob('deliveries');
    await expect(runner.runJob(all)).resolves.toBe('completed');
    expect(await ndjsonDocs(all)).toEqual(await inDb(''));
    expect((await ndjsonDocs(all)).length).toBe(25);

    const filtered = await createJob('deliveries', 'csv', { webhook_id: whk, status: 'dead_letter', service: 'rfp' });
    await expect(runner.runJob(filtered)).resolves.toBe('completed');
    const { header, rows } = await csvRecords(filtered);
    expect(header).toBe(DELIVERY_EXPORT_COLUMNS.join(','));
    const expected = await inDb(`AND webhook_id = $2 AND status = 'dead_letter' AND event_type LIKE 'rfp.%'`, [whk]);
    expect(expected.length).toBeGreaterThan(0);
    expect(rows).toEqual(
      expected.map((d) => Object.fromEntries(DELIVERY_EXPORT_COLUMNS.map((c) => [c, csvText(d[c])]))),
    );
  });

  it('exports the audit log compared with the database (window on created_at)', async () => {
    for (let i = 0; i < 15; i++) {
      await ds.query(
        `INSERT INTO audit_log (audit_id, orgcode, actor_type, actor_id, app_id, action, target_type, target_id,
           source_refs, metadata, created_at)
         VALUES ($1, $2, 'user', 'user_a', NULL, 'webhook.create', 'webhook', $3, '[]', $4, $5)`,
        [
          newId(IdPrefix.Audit, Date.UTC(2026, 5, 1, 0, i)),
          orgcode,
          `whk_${i}`,
          { n: i, note: 'a, "quoted" value' },
          new Date(Date.UTC(2026, 5, 1, 0, i)),
        ],
      );
    }
    const jobId = await createJob('audit', 'ndjson', {
      from_utc: '2026-06-01T00:03:00Z',
      to_utc: '2026-06-01T00:10:00Z',
    });
    await expect(runner.runJob(jobId)).resolves.toBe('completed');
    const rows = await ds.query<AuditLogEntity[]>(
      `SELECT * FROM audit_log WHERE orgcode = $1 AND created_at >= $2 AND created_at < $3 ORDER BY audit_id`,
      [orgcode, '2026-06-01T00:03:00Z', '2026-06-01T00:10:00Z'],
    );
    expect(rows).toHaveLength(7);
    expect(await ndjsonDocs(jobId)).toEqual(rows.map((r) => JSON.parse(JSON.stringify(toAuditRecord(r))) as Doc));
  });

  it('escapes formula-like tenant text in CSV (a leading quote, inside quotes), not JSON cells; NDJSON stays exact', async () => {
    const hostile = ['=HYPERLINK("https://evil.example","x")', '+1+1', '-2', '@SUM(A1)', '\tcmd', "'=quoted"];
    for (const [i, reason] of hostile.entries()) {
      await ds.query(
        `INSERT INTO audit_log (audit_id, orgcode, actor_type, actor_id, app_id, action, target_type, target_id,
           reason, source_refs, metadata, created_at)
         VALUES ($1, $2, 'user', '=actor', NULL, 'webhook.create', 'webhook', '-whk', $3, '[]', $4, $5)`,
        [
          newId(IdPrefix.Audit, Date.UTC(2026, 6, 1, 0, i)),
          orgcode,
          reason,
          { n: -(i + 1) },
          new Date(Date.UTC(2026, 6, 1, 0, i)),
        ],
      );
    }
    const csv = await createJob('audit', 'csv');
    const ndjson = await createJob('audit', 'ndjson');
    await expect(runner.runJob(csv)).resolves.toBe('completed');
    await expect(runner.runJob(ndjson)).resolves.toBe('completed');

    const text = await file(csv);
    expect(text).toContain(`"'=HYPERLINK(""https://evil.example"",""x"")"`);
    expect(text).toContain(`,"'=actor",`);
    expect(text).toContain(`,"'-whk",`);
    expect(text).toContain(`,"''=quoted",`);
    // No cell of the file starts a formula: every one is quoted or starts with something else.
    for (const line of text.split('\r\n').slice(1, -1)) expect(line).not.toMatch(/(^|,)[=+\-@\t]/);
    // Reading the file back (as an import does) gives the stored text, quote removed.
    const { rows } = await csvRecords(csv);
    expect(rows.map((r) => r.reason)).toEqual(hostile);
    expect(rows.map((r) => JSON.parse(r.metadata) as Doc)).toEqual(hostile.map((_, i) => ({ n: -(i + 1) })));
    // NDJSON is byte for byte the JSON of the records.
    expect((await ndjsonDocs(ndjson)).map((d) => d.reason)).toEqual(hostile);
    expect(await file(ndjson)).toContain('"reason":"=HYPERLINK(\\"https://evil.example\\",\\"x\\")"');
  });

  it('a run that dies mid-export resumes from the stored cursor: every row exactly once', async () => {
    await publish(orgcode, 47);
    const jobId = await createJob('events');
    const source = moduleRef.get(EventExport);
    const page = source.page.bind(source);
    let calls = 0;
    jest.spyOn(source, 'page').mockImplementation(async (...args) => {
      if (++calls === 3) throw new Error('worker killed');
      return page(...args);
    });
    await expect(runner.runJob(jobId)).rejects.toThrow('worker killed');
    const stopped = await loadJob(jobId);
    expect(stopped).toMatchObject({ status: 'running', processed: 20 });
    expect((await ndjsonDocs(jobId)).length).toBe(20);

    // BullMQ (or the sweeper) runs the job again: it is still `running`, from the cursor.
    await expect(runner.runJob(jobId)).resolves.toBe('completed');
    const docs = await ndjsonDocs(jobId);
    expect(docs).toEqual(await eventsInDb());
    expect(new Set(docs.map((d) => d.event_id)).size).toBe(47);
    expect(await loadJob(jobId)).toMatchObject({ processed: 47, total_lines: 47 });
  });

  it('stops between chunks on shutdown (back to queued) and on cancel; continue finishes without a repeat', async () => {
    await publish(orgcode, 35);
    const jobId = await createJob('events', 'csv');
    const abort = new AbortController();
    const source = moduleRef.get(EventExport);
    const page = source.page.bind(source);
    let calls = 0;
    jest.spyOn(source, 'page').mockImplementation(async (...args) => {
      calls++;
      // Page 3 is read ahead while chunk 2 commits: the runner sees the shutdown right after that commit.
      if (calls === 3) abort.abort();
      // The next run's first page: cancelled before any of its chunks commits.
      if (calls === 4) await ds.query(`UPDATE bulk_jobs SET status = 'cancelled' WHERE job_id = $1`, [jobId]);
      return page(...args);
    });
    await expect(runner.runJob(jobId, { signal: abort.signal })).rejects.toThrow(/interrupted by shutdown/);
    expect(await loadJob(jobId)).toMatchObject({ status: 'queued', processed: 20 });

    await expect(runner.runJob(jobId)).resolves.toBe('cancelled');
    expect(await loadJob(jobId)).toMatchObject({ status: 'cancelled', processed: 20 });

    await ds.query(`UPDATE bulk_jobs SET status = 'queued' WHERE job_id = $1`, [jobId]);
    await expect(runner.runJob(jobId)).resolves.toBe('completed');
    const { rows } = await csvRecords(jobId);
    expect(rows.map((r) => r.event_id)).toEqual((await eventsInDb()).map((d) => d.event_id));
    expect(rows).toHaveLength(35);
  });
});
