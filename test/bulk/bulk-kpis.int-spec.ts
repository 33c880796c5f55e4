import { Readable } from 'node:stream';
import type { TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import { parseCsv } from '@ipm/bulk';
import { BulkJobEntity, BulkObjectRef, PgBulkStorage } from '@ipm/bulk';
import { BulkRunner } from '@ipm/bulk';
import { KPI_EXPORT_COLUMNS, KpiExport } from '@ipm/bulk';
import type { KpiDto } from '@ipm/kpis';
import { KpiSnapshotEntity } from '@ipm/kpis';
import { KpiService, toKpiDto } from '@ipm/kpis';
import { uniqueOrg } from '../support/api';
import {
  compileBulkModule,
  csvField,
  insertBulkJob,
  loadBulkJob,
  ndjson,
  range,
  readBulkObject,
  readReport,
  type BulkJobSpec,
  type ReportLine,
} from '../support/bulk';

// Small chunks, so that a couple of dozen lines make several transactions; small parts, so that
// lines straddle part boundaries.
const CHUNK = 5;
process.env.BULK_CHUNK_LINES = String(CHUNK);

/** Hour `i` of 2026 (UTC), as written in a file. */
const hour = (i: number) => new Date(Date.UTC(2026, 0, 1, i)).toISOString().replace('.000Z', 'Z');
/** One snapshot with its fields at the top level (the CSV shape, also fine in NDJSON). */
const snap = (i: number, extra: Record<string, unknown> = {}) => ({
  kpi_code: 'orders.count',
  bucket: 'hourly',
  bucket_start: hour(i),
  value: i * 1.5,
  ...extra,
});
/** The same as a /kpi/record request body. */
const body = (i: number, extra: Record<string, unknown> = {}) => ({ kpi: snap(i), reason: `line ${i}`, ...extra });

describe('bulk kpis: import and export', () => {
  let moduleRef: TestingModule;
  let ds: DataSource;
  let storage: PgBulkStorage;
  let runner: BulkRunner;
  let kpis: KpiService;
  let orgcode: string;

  beforeAll(async () => {
    ({ moduleRef, ds, storage } = await compileBulkModule({ partSize: 512 }));
    runner = moduleRef.get(BulkRunner);
    kpis = moduleRef.get(KpiService, { strict: false });
  });

  afterAll(async () => {
    await moduleRef?.close();
  });

  beforeEach(() => {
    orgcode = uniqueOrg('bulkkpi');
  });

  const createJob = (content: string | null, spec: BulkJobSpec = {}): Promise<string> =>
    insertBulkJob(ds, storage, { ...spec, orgcode: spec.org ?? orgcode, target: 'kpis', content });

  const loadJob = (job_id: string) => loadBulkJob(ds, job_id);

  const file = (job_id: string, kind: BulkObjectRef['kind'], org = orgcode): Promise<Buffer> =>
    readBulkObject(storage, { orgcode: org, jobId: job_id, kind });

  const report = (job_id: string): Promise<ReportLine[]> => readReport(storage, orgcode, job_id);

  /** The tenant's snapshots, by code then time. */
  const stored = (org = orgcode) =>
    ds.getRepository(KpiSnapshotEntity).find({
      where: { orgcode: org },
      order: { kpi_code: 'ASC', scope: 'ASC', bucket_start: 'ASC' },
    });
  const valuesOf = (rows: readonly KpiSnapshotEntity[]) => rows.map((r) => [r.bucket_start.toISOString(), r.value]);
  const auditCount = async (org = orgcode): Promise<number> => {
    const [{ n }] = await ds.query<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM audit_log WHERE orgcode = $1 AND action = 'kpi.record'`,
      [org],
    );
    return n;
  };

  /** Records snapshots directly (as /kpi/record would), for re-import and export tests. */
  async function seed(
    org: string,
    hours: readonly number[],
    extra: Record<string, unknown> = {},
    app_id: string | null = null,
  ) {
    await ds.transaction(async (em) => {
      for (const i of hours) {
        const result = await kpis.upsert(em, { orgcode: org, app_id, actor: 'seeder' }, snap(i, extra));
        if (!result.ok) throw result.error;
      }
    });
  }

  describe('import', () => {
    it('imports NDJSON (bodies and flat lines) through the upsert: stored, audited, exact counters', async () => {
      const lines = range(23).map((i) => (i % 2 ? body(i) : snap(i, { scope: 'app:web' })));
      const jobId = await createJob(ndjson(lines));
      await expect(runner.runJob(jobId)).resolves.toBe('completed');

      expect(await loadJob(jobId)).toMatchObject({
        status: 'completed',
        processed: 23,
        succeeded: 23,
        failed: 0,
        total_lines: 23,
        last_processed_line: 23,
        error: null,
      });
      const rows = await stored();
      expect(rows).toHaveLength(23);
      const org = rows.filter((r) => r.scope === 'org');
      expect(valuesOf(org)).toEqual(
        range(23)
          .filter((i) => i % 2)
          .map((i) => [new Date(hour(i)).toISOString(), i * 1.5]),
      );
      expect(rows.filter((r) => r.scope === 'app:web')).toHaveLength(11);
      expect(toKpiDto(org[0])).toEqual({
        kpi_id: expect.stringMatching(/^kpi_/),
        orgcode,
        app_id: null,
        kpi_code: 'orders.count',
        scope: 'org',
        bucket: 'hourly',
        bucket_start: '2026-01-01T01:00:00.000Z',
        bucket_end: '2026-01-01T02:00:00.000Z',
        value: 1.5,
        created_at: expect.any(String),
        created_by: 'user_importer',
        updated_at: expect.any(String),
        updated_by: 'user_importer',
        revision: '1',
      });
      // One audit row per snapshot, pointing at the job, with the line's reason.
      const audit = await ds.query<Array<{ reason: string | null; source_refs: unknown; request_context: unknown }>>(
        `SELECT reason, source_refs, request_context FROM audit_log WHERE orgcode = $1 AND target_id = $2`,
        [orgcode, org[0].kpi_id],
      );
      expect(audit).toEqual([
        {
          reason: 'line 1',
          source_refs: [{ kind: 'bulk_job', id: jobId }],
          request_context: { context_source: 'import' },
        },
      ]);
      expect(await auditCount()).toBe(23);
      expect(await report(jobId)).toEqual([]);
      // A second run of a finished job does nothing.
      await expect(runner.runJob(jobId)).resolves.toBe('completed');
      expect(await stored()).toHaveLength(23);
    });

    it('imports CSV: numbers as text, empty cells absent, CRLF, quoted cells, expected_revision', async () => {
      await seed(orgcode, [100], { kpi_code: 'csv.kpi' });
      const header = 'kpi_code,scope,bucket,bucket_start,bucket_end,value,expected_revision,reason';
      const rows = range(12).map((i) =>
        [
          'csv.kpi',
          i % 3 === 0 ? 'region:eu' : '',
          'daily',
          `2026-02-${String(i).padStart(2, '0')}T00:00:00Z`,
          i % 2 ? `2026-02-${String(i + 1).padStart(2, '0')}T00:00:00Z` : '',
          i === 12 ? '-2.5e3' : String(i / 4),
          '',
          i === 1 ? csvField('a "quoted",\r\nreason') : '',
        ].join(','),
      );
      // A replacement of a stored snapshot, with its revision.
      rows.push(['csv.kpi', '', 'hourly', hour(100), '', '42', '1', ''].join(','));
      const jobId = await createJob([header, ...rows].join('\r\n') + '\r\n', { format: 'csv' });
      await expect(runner.runJob(jobId)).resolves.toBe('completed');

      expect(await loadJob(jobId)).toMatchObject({ processed: 13, succeeded: 13, failed: 0, total_lines: 13 });
      const stored13 = await stored();
      expect(stored13).toHaveLength(13);
      const daily = stored13.filter((r) => r.bucket === 'daily');
      expect(daily.filter((r) => r.scope === 'region:eu').map((r) => r.bucket_start.getUTCDate())).toEqual([
        3, 6, 9, 12,
      ]);
      expect(daily.find((r) => r.bucket_start.getUTCDate() === 12)?.value).toBe(-2500);
      expect(daily.find((r) => r.bucket_start.getUTCDate() === 2)).toMatchObject({
        value: 0.5,
        bucket_end: new Date('2026-02-03T00:00:00Z'),
      });
      expect(stored13.find((r) => r.bucket === 'hourly')).toMatchObject({ value: 42, revision: 2 });
      const [reason] = await ds.query<Array<{ reason: string }>>(
        `SELECT reason FROM audit_log WHERE orgcode = $1 AND reason IS NOT NULL`,
        [orgcode],
      );
      expect(reason.reason).toBe('a "quoted",\r\nreason');
    });

    it('imports CSV in the body shape too (a kpi column of JSON text)', async () => {
      const rows = range(3).map((i) => `${csvField(JSON.stringify(snap(i)))},why ${i}`);
      const jobId = await createJob(['kpi,reason', ...rows].join('\n') + '\n', { format: 'csv' });
      await expect(runner.runJob(jobId)).resolves.toBe('completed');
      expect(valuesOf(await stored())).toEqual(range(3).map((i) => [new Date(hour(i)).toISOString(), i * 1.5]));
    });

    it('a CSV with an unknown column fails the job with the reason, storing nothing', async () => {
      const jobId = await createJob(
        'kpi_code,bucket,bucket_start,value,unit\r\nx,hourly,2026-01-01T00:00:00Z,1,ms\r\n',
        {
          format: 'csv',
        },
      );
      await expect(runner.runJob(jobId)).resolves.toBe('failed');
      expect((await loadJob(jobId)).error).toMatch(/unknown column\(s\) unit/);
      expect(await stored()).toHaveLength(0);
    });

    it('reports every bad line (line, error, raw) and lands the rest, across chunks', async () => {
      const lines: unknown[] = [
        body(1), // 1 good
        body(1, { reason: 'again' }), // 2 duplicate of line 1 (same chunk)
        '{"kpi": {"kpi_code": "x",', // 3 malformed JSON
        snap(3, { bucket_start: '2026-01-01T03:30:00Z' }), // 4 misaligned hour
        snap(4, { bucket: 'weekly', bucket_start: '2026-01-01T00:00:00Z' }), // 5 a Thursday
        // chunk 2
        snap(5, { bucket_end: '2026-01-01T07:00:00Z' }), // 6 end does not match
        snap(6, { value: '12' }), // 7 value as text
        snap(7, { kpi_code: 'has space' }), // 8 bad code
        snap(8, { unit: 'ms' }), // 9 unknown property
        '', // 10 blank: skipped, not counted
        '[1,2]', // 11 not an object
        // chunk 3
        snap(1, { value: 99 }), // 12 repeats line 1's key from an earlier chunk: stored, so it needs the revision
        { kpi: snap(9), kpi_code: 'other' }, // 13 both shapes
        snap(10, { expected_revision: '3' }), // 14 a revision for a snapshot that does not exist
        '{"kpi_code":"big","bucket":"hourly","bucket_start":"2026-01-01T00:00:00Z","value":1e400}', // 15 Infinity
        body(11, { request_context: { orgcode: 'someone-else' } }), // 16 another tenant named
        // chunk 4
        body(12), // 17 good
        snap(13, { bucket: 'monthly', bucket_start: '2028-02-29T00:00:00Z' }), // 18 leap day is not a month start
        snap(14, { bucket: 'daily', bucket_start: '2028-02-29T00:00:00Z' }), // 19 leap day is a day start: good
      ];
      const jobId = await createJob(ndjson(lines));
      await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');

      expect(await loadJob(jobId)).toMatchObject({ processed: 18, succeeded: 3, failed: 15, last_processed_line: 19 });
      expect(valuesOf(await stored())).toEqual([
        ['2026-01-01T01:00:00.000Z', 1.5],
        ['2026-01-01T12:00:00.000Z', 18],
        ['2028-02-29T00:00:00.000Z', 21],
      ]);
      const raw = (i: number) => (typeof lines[i - 1] === 'string' ? lines[i - 1] : JSON.stringify(lines[i - 1]));
      const expected: Array<[number, string | RegExp]> = [
        [2, 'duplicate snapshot: same kpi_code, scope, bucket and bucket_start as line 1'],
        [3, /^malformed JSON: /],
        [
          4,
          'validation_failed: bucket_start 2026-01-01T03:30:00.000Z is not the start of an hourly bucket: hourly ' +
            'buckets start on the hour (mm:ss.sss = 00:00.000) in UTC; the hourly bucket containing it starts at ' +
            '2026-01-01T03:00:00.000Z',
        ],
        [
          5,
          'validation_failed: bucket_start 2026-01-01T00:00:00.000Z (a Thursday in UTC) is not the start of a weekly ' +
            'bucket: weekly buckets start on Monday at 00:00:00.000 UTC; the weekly bucket containing it starts at ' +
            '2025-12-29T00:00:00.000Z',
        ],
        [
          6,
          'validation_failed: bucket_end 2026-01-01T07:00:00.000Z does not match bucket_start: the hourly bucket ' +
            'starting at 2026-01-01T05:00:00.000Z ends at 2026-01-01T06:00:00.000Z',
        ],
        [7, 'validation_failed: value must be a finite number'],
        [8, 'validation_failed: kpi_code must be 1-100 of A-Z a-z 0-9 _ . : - starting with a letter'],
        [9, 'property unit should not exist'],
        [11, 'expected a JSON object, got an array'],
        [12, 'precondition_required: expected_revision is required to replace the existing snapshot (at revision 1)'],
        [13, 'give the snapshot as kpi or as top-level fields, not both (kpi_code)'],
        [
          14,
          'revision_mismatch: expected_revision 3 was given but no such snapshot exists: omit expected_revision to create it',
        ],
        [15, 'validation_failed: value must be a finite number'],
        [16, "request_context.orgcode must equal the job's orgcode"],
        [
          18,
          'validation_failed: bucket_start 2028-02-29T00:00:00.000Z is not the start of a monthly bucket: monthly ' +
            'buckets start on the 1st of the month at 00:00:00.000 UTC; the monthly bucket containing it starts at ' +
            '2028-02-01T00:00:00.000Z',
        ],
      ];
      const got = await report(jobId);
      expect(got.map((l) => l.line)).toEqual(expected.map(([line]) => line));
      got.forEach((entry, k) => {
        const [line, error] = expected[k];
        expect(entry).toEqual({
          line,
          error: typeof error === 'string' ? error : expect.stringMatching(error),
          raw: raw(line),
        });
      });
      // The refused lines wrote nothing, not even audit rows.
      expect(await auditCount()).toBe(3);
    });

    it('a re-import of stored snapshots: lines without expected_revision are reported (428), with it they replace, stale ones 409', async () => {
      await seed(orgcode, range(6));
      const lines = [
        ...range(3).map((i) => snap(i, { value: 100 + i })), // 1-3: no revision
        snap(4, { value: 104, expected_revision: '1' }), // 4: replaces
        snap(5, { value: 105, expected_revision: 1 }), // 5: replaces (a number is fine in NDJSON)
        snap(6, { value: 106, expected_revision: '2' }), // 6: stale
        snap(7, { value: 107 }), // 7: new
      ];
      const jobId = await createJob(ndjson(lines));
      await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');

      expect(await loadJob(jobId)).toMatchObject({ processed: 7, succeeded: 3, failed: 4 });
      expect(await report(jobId)).toEqual([
        ...range(3).map((line) => ({
          line,
          error:
            'precondition_required: expected_revision is required to replace the existing snapshot (at revision 1)',
          raw: JSON.stringify(lines[line - 1]),
        })),
        {
          line: 6,
          error: 'revision_mismatch: expected_revision 2 is stale: the record is at revision 1',
          raw: JSON.stringify(lines[5]),
        },
      ]);
      const rows = await stored();
      expect(rows.map((r) => [r.value, r.revision])).toEqual([
        [1.5, 1],
        [3, 1],
        [4.5, 1],
        [104, 2],
        [105, 2],
        [9, 1],
        [107, 1],
      ]);
      expect(rows[3].updated_by).toBe('user_importer');
    });

    it('dry run: every check (incl. the stored revisions), the same counts and report, nothing stored', async () => {
      await seed(orgcode, [1]);
      const lines = [
        snap(1, { value: 5 }), // 1: exists, no revision
        snap(2), // 2: new
        snap(2), // 3: duplicate
        snap(3, { bucket_start: '2026-01-01T03:00:01Z' }), // 4: misaligned
        snap(1, { value: 6, expected_revision: '1' }), // 5: would replace (line 1 recorded nothing)
        snap(4), // 6: new
      ];
      const jobId = await createJob(ndjson(lines), { options: { dry_run: true } });
      await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');

      expect(await loadJob(jobId)).toMatchObject({ processed: 6, succeeded: 3, failed: 3 });
      expect((await report(jobId)).map((l) => [l.line, l.error.split(':')[0]])).toEqual([
        [1, 'precondition_required'],
        [3, 'duplicate snapshot'],
        [4, 'validation_failed'],
      ]);
      expect(valuesOf(await stored())).toEqual([['2026-01-01T01:00:00.000Z', 1.5]]);
      expect((await stored())[0].revision).toBe(1);
      expect(await auditCount()).toBe(1); // the seed's
    });

    it("an app's job records as its app and cannot replace another app's snapshot", async () => {
      await seed(orgcode, [1], {}, 'app_b');
      const jobId = await createJob(ndjson([snap(1, { expected_revision: '1', value: 0 }), snap(2)]), {
        app_id: 'app_a',
      });
      await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');
      expect(await report(jobId)).toEqual([
        {
          line: 1,
          error:
            'forbidden: This snapshot was recorded by another application: an application principal can only replace its own',
          raw: JSON.stringify(snap(1, { expected_revision: '1', value: 0 })),
        },
      ]);
      const rows = await stored();
      expect(rows.map((r) => [r.app_id, r.value])).toEqual([
        ['app_b', 1.5],
        ['app_a', 3],
      ]);
    });

    it("a tenant's import never touches another tenant's snapshots with the same keys", async () => {
      const other = uniqueOrg('bulkkpi-other');
      await seed(other, range(3));
      const jobId = await createJob(ndjson(range(3).map((i) => snap(i, { value: -i }))));
      await expect(runner.runJob(jobId)).resolves.toBe('completed');
      expect((await stored()).map((r) => r.value)).toEqual([-1, -2, -3]);
      expect((await stored(other)).map((r) => [r.value, r.revision])).toEqual([
        [1.5, 1],
        [3, 1],
        [4.5, 1],
      ]);
    });
  });

  describe('export', () => {
    /** The tenant's snapshots as the export should show them, in kpi_id order. */
    const expectedDocs = async (org = orgcode): Promise<KpiDto[]> =>
      (await ds.getRepository(KpiSnapshotEntity).find({ where: { orgcode: org }, order: { kpi_id: 'ASC' } })).map(
        toKpiDto,
      );

    /** 13 snapshots over several codes and buckets, one replaced (revision 2), one app's; another tenant's too. */
    async function seedForExport(): Promise<string> {
      await seed(orgcode, range(8));
      await seed(orgcode, [0, 24], { kpi_code: 'daily.kpi', bucket: 'daily', value: 0.1 });
      await seed(orgcode, [1, 2], { scope: 'app:web' }, 'app_a');
      await seed(orgcode, [0], { kpi_code: 'monthly.kpi', bucket: 'monthly', value: -7e-9 });
      await ds.transaction((em) =>
        kpis.upsert(em, { orgcode, app_id: null, actor: 'editor' }, snap(3, { value: 33.25 }), '1'),
      );
      const other = uniqueOrg('bulkkpi-other');
      await seed(other, range(4));
      return other;
    }

    it('exports NDJSON in kpi_id order, each line the API shape of the stored row; another tenant’s never', async () => {
      const other = await seedForExport();
      const jobId = await createJob(null, { job_type: 'export' });
      await expect(runner.runJob(jobId)).resolves.toBe('completed');

      const expected = await expectedDocs();
      expect(expected).toHaveLength(13);
      const job = await loadJob(jobId);
      expect(job).toMatchObject({ status: 'completed', processed: 13, succeeded: 13, total_lines: 13 });
      const text = (await file(jobId, 'export')).toString('utf8');
      expect(text.endsWith('\n')).toBe(true);
      const docs = text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as KpiDto);
      expect(docs).toEqual(expected);
      expect(docs.find((d) => d.value === 33.25)).toMatchObject({ revision: '2', updated_by: 'editor' });
      expect(text).not.toContain(other);
    });

    it('exports CSV: the header is the columns, each cell the DB value', async () => {
      await seedForExport();
      const jobId = await createJob(null, { job_type: 'export', format: 'csv' });
      await expect(runner.runJob(jobId)).resolves.toBe('completed');

      const bytes = await file(jobId, 'export');
      expect(bytes.toString('utf8').split('\r\n')[0]).toBe(KPI_EXPORT_COLUMNS.join(','));
      const rows: Array<Record<string, string>> = [];
      for await (const record of parseCsv(Readable.from([bytes]), { maxLineBytes: 1 << 20 })) {
        expect(record.error).toBeUndefined();
        rows.push({ ...record.fields });
      }
      const expected = await expectedDocs();
      expect(rows).toHaveLength(expected.length);
      rows.forEach((row, k) => {
        const doc = expected[k] as unknown as Record<string, unknown>;
        for (const column of KPI_EXPORT_COLUMNS) {
          const v = doc[column] as string | number | null;
          expect([column, row[column]]).toEqual([column, v === null ? '' : String(v)]);
        }
        // Numbers survive the text round trip exactly.
        expect(Number(row.value)).toBe(doc.value);
      });
    });

    it("filters: bucket_start in [from_utc, to_utc), the app's snapshots for an app's job; count() agrees", async () => {
      await seedForExport();
      const run = async (spec: BulkJobSpec): Promise<KpiDto[]> => {
        const jobId = await createJob(null, { job_type: 'export', ...spec });
        await expect(runner.runJob(jobId)).resolves.toBe('completed');
        const text = (await file(jobId, 'export')).toString('utf8').trimEnd();
        const docs = text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as KpiDto);
        const job = await loadJob(jobId);
        expect(job.total_lines).toBe(docs.length);
        expect(await new KpiExport().count(ds.manager, job)).toBe(docs.length);
        return docs;
      };
      const all = await expectedDocs();
      const within = (from: string, to: string) =>
        all.filter(
          (d) => d.bucket_start >= new Date(from).toISOString() && d.bucket_start < new Date(to).toISOString(),
        );

      const window = await run({ options: { from_utc: '2026-01-01T02:00:00Z', to_utc: '2026-01-01T06:00:00Z' } });
      expect(window).toEqual(within('2026-01-01T02:00:00Z', '2026-01-01T06:00:00Z'));
      expect(window.map((d) => d.bucket_start)).toEqual(
        expect.arrayContaining(['2026-01-01T02:00:00.000Z', '2026-01-01T05:00:00.000Z']),
      );
      expect(window).toHaveLength(5); // hours 2-5 of orders.count, hour 2 of app:web
      expect(await run({ options: { from_utc: '2026-01-02T00:00:00Z' } })).toEqual(
        all.filter((d) => d.bucket_start >= '2026-01-02T00:00:00.000Z'),
      );
      expect(await run({ options: { to_utc: '2026-01-01T01:00:00Z' } })).toEqual(
        all.filter((d) => d.bucket_start < '2026-01-01T01:00:00.000Z'),
      );
      const app = await run({ app_id: 'app_a' });
      expect(app).toEqual(all.filter((d) => d.app_id === 'app_a'));
      expect(app).toHaveLength(2);
      expect(await run({ app_id: 'app_none' })).toEqual([]);
    });

    it('pages: the keyset resumes after the cursor, with no row twice and none skipped', async () => {
      await seedForExport();
      const job = await ds.getRepository(BulkJobEntity).findOneByOrFail({
        job_id: await createJob(null, { job_type: 'export' }),
      });
      const source = new KpiExport();
      const seen: KpiDto[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await source.page(ds.manager, job, after, 4);
        if (page.docs.length === 0) {
          expect(page.cursor).toBeNull();
          break;
        }
        seen.push(...(page.docs as KpiDto[]));
        after = page.cursor;
      }
      expect(seen).toEqual(await expectedDocs());
    });
  });
});
