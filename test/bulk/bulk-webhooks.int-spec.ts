import type { TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import type { Caller } from '@ipm/auth';
import { parseCsv } from '@ipm/bulk';
import { BulkObjectRef, PgBulkStorage } from '@ipm/bulk';
import { BulkRunner } from '@ipm/bulk';
import { WEBHOOK_EXPORT_COLUMNS, WebhookExport } from '@ipm/bulk';
import { WebhookEntity } from '@ipm/webhooks';
import { secretFingerprint, WebhookSecrets } from '@ipm/webhooks';
import { toWebhookDto, WebhooksService } from '@ipm/webhooks';
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

// Small chunks, so that a dozen lines make several transactions (and the dry run's cap spans chunks);
// a small per-tenant cap, so that reaching it takes a few lines.
const CHUNK = 4;
const CAP = 12;
process.env.BULK_CHUNK_LINES = String(CHUNK);
process.env.WEBHOOK_MAX_PER_TENANT = String(CAP);

const PUBLIC = (i: number) => `https://93.184.215.${10 + i}/hooks/${i}`;
const SECRET_SHAPE = /^whsec_[A-Za-z0-9+/]{43}=$/;

/** One /webhook/create body per line, every field used. */
const body = (i: number) => ({
  endpoint_url: PUBLIC(i),
  name: `hook ${i} – ünïcode`,
  description: `imported, "quoted", line ${i}`,
  event_filters: i % 2 ? [{ service: 'rfp', action: 'created' }] : [{ service: 'ipm', action_prefix: 'webhook.' }],
  headers: { 'X-Team': `team-${i}` },
  retry_policy: { max_attempts: 3, auto_pause_after: 10 },
  timeout_ms: 5000,
  tags: ['imported', `n:${i}`],
  reason: 'migration',
});

describe('bulk webhooks: import and export', () => {
  let moduleRef: TestingModule;
  let ds: DataSource;
  let storage: PgBulkStorage;
  let runner: BulkRunner;
  let webhooks: WebhooksService;
  let secrets: WebhookSecrets;
  let orgcode: string;

  beforeAll(async () => {
    ({ moduleRef, ds, storage } = await compileBulkModule({ partSize: 512 }));
    runner = moduleRef.get(BulkRunner);
    webhooks = moduleRef.get(WebhooksService, { strict: false });
    secrets = moduleRef.get(WebhookSecrets, { strict: false });
  });

  afterAll(async () => {
    await moduleRef?.close();
  });

  beforeEach(() => {
    orgcode = uniqueOrg('bulkwhk');
  });

  const createJob = (content: string | null, spec: BulkJobSpec = {}): Promise<string> =>
    insertBulkJob(ds, storage, { ...spec, orgcode: spec.org ?? orgcode, target: 'webhooks', content });

  const loadJob = (job_id: string) => loadBulkJob(ds, job_id);

  const file = (job_id: string, kind: BulkObjectRef['kind'], org = orgcode): Promise<Buffer> =>
    readBulkObject(storage, { orgcode: org, jobId: job_id, kind });

  const report = (job_id: string): Promise<ReportLine[]> => readReport(storage, orgcode, job_id);

  /** The tenant's live webhooks in creation order. */
  const stored = (org = orgcode) =>
    ds.getRepository(WebhookEntity).find({ where: { orgcode: org, is_deleted: false }, order: { webhook_id: 'ASC' } });

  async function count(sql: string, params: unknown[]): Promise<number> {
    const [{ n }] = await ds.query<Array<{ n: number }>>(sql, params);
    return n;
  }

  const caller = (org = orgcode, app_id: string | null = null): Caller => ({
    kind: 'user',
    actor_id: 'user_admin',
    orgs: [org],
    permissions: [],
    app_id,
    orgcode: org,
  });

  describe('import', () => {
    it('imports NDJSON through /webhook/create: fields, audit rows, events, secrets sealed at rest, exact counters', async () => {
      const jobId = await createJob(ndjson(range(10).map(body)));
      await expect(runner.runJob(jobId)).resolves.toBe('completed');

      expect(await loadJob(jobId)).toMatchObject({
        status: 'completed',
        processed: 10,
        succeeded: 10,
        failed: 0,
        total_lines: 10,
        last_processed_line: 10,
        error: null,
      });
      expect(await report(jobId)).toEqual([]);
      const rows = await stored();
      expect(rows).toHaveLength(10);
      rows.forEach((row, k) => {
        const i = k + 1;
        expect(toWebhookDto(row)).toMatchObject({
          orgcode,
          app_id: null,
          name: `hook ${i} – ünïcode`,
          description: `imported, "quoted", line ${i}`,
          endpoint_url: PUBLIC(i),
          status: 'active',
          event_filters: body(i).event_filters,
          headers: { 'X-Team': `team-${i}` },
          retry_policy: { max_attempts: 3, backoff: 'exponential', timeout_ms: 5000, auto_pause_after: 10 },
          signing_algorithm: 'hmac-sha256',
          tags: ['imported', `n:${i}`],
          consecutive_failures: 0,
          created_by: 'user_importer',
          updated_by: 'user_importer',
          revision: '1',
        });
        // Sealed at rest, as /webhook/create seals it: the clear secret opens from the row only.
        const [secret] = secrets.signingSecrets(row);
        expect(secret).toMatch(SECRET_SHAPE);
        expect(row.secret_sealed).not.toContain(secret);
        expect(row.secret_sealed).not.toContain(secret.slice('whsec_'.length));
        expect(row.secret_fingerprint).toBe(secretFingerprint(secret));
        expect(row.secret_last4).toBe(secret.slice(-4));
      });
      expect(new Set(rows.map((r) => r.secret_fingerprint)).size).toBe(10);

      const audit = await ds.query<Array<{ actor_id: string; source_refs: unknown; reason: string; metadata: object }>>(
        `SELECT actor_id, source_refs, reason, request_context, metadata FROM audit_log
          WHERE orgcode = $1 AND action = 'webhook.create' ORDER BY target_id`,
        [orgcode],
      );
      expect(audit).toHaveLength(10);
      expect(audit[0]).toMatchObject({
        actor_id: 'user_importer',
        reason: 'migration',
        source_refs: [{ kind: 'bulk_job', id: jobId }],
        request_context: { context_source: 'import' },
        metadata: { secret_fingerprint: rows[0].secret_fingerprint, revision: '1' },
      });
      expect(
        await count(`SELECT count(*)::int AS n FROM events WHERE orgcode = $1 AND event_type = 'ipm.webhook.created'`, [
          orgcode,
        ]),
      ).toBe(10);
      // No secret in the audit log or the change feed.
      const trail = JSON.stringify(await ds.query(`SELECT * FROM audit_log WHERE orgcode = $1`, [orgcode]));
      const feed = JSON.stringify(await ds.query(`SELECT payload FROM events WHERE orgcode = $1`, [orgcode]));
      for (const row of rows) {
        const [secret] = secrets.signingSecrets(row);
        expect(feed).not.toContain(secret.slice('whsec_'.length));
        expect(trail).not.toContain(secret.slice('whsec_'.length));
      }
      // A second run of a finished job does nothing.
      await expect(runner.runJob(jobId)).resolves.toBe('completed');
      expect(await stored()).toHaveLength(10);
    });

    it('imports CSV: text as is, numbers, JSON cells for arrays and objects, empty cells absent', async () => {
      const header = 'endpoint_url,name,description,event_filters,headers,retry_policy,timeout_ms,tags,app_id';
      const row = (i: number) =>
        [
          PUBLIC(i),
          `csv ${i}`,
          i === 2 ? '' : csvField(`multi-line,\r\n"quoted" ${i}`),
          csvField(JSON.stringify([{ service: 'rfp' }])),
          csvField(JSON.stringify({ 'X-Csv': String(i) })),
          i === 2 ? '' : csvField(JSON.stringify({ max_attempts: 5 })),
          i === 3 ? '' : '2000',
          csvField(JSON.stringify(['csv'])),
          i === 1 ? 'app_csv' : '',
        ].join(',');
      const jobId = await createJob([header, ...range(6).map(row)].join('\r\n') + '\r\n', { format: 'csv' });
      await expect(runner.runJob(jobId)).resolves.toBe('completed');

      expect(await loadJob(jobId)).toMatchObject({ processed: 6, succeeded: 6, failed: 0, total_lines: 6 });
      const rows = (await stored()).map(toWebhookDto);
      expect(rows.map((r) => r.name)).toEqual(range(6).map((i) => `csv ${i}`));
      expect(rows[0]).toMatchObject({
        app_id: 'app_csv',
        description: 'multi-line,\r\n"quoted" 1',
        event_filters: [{ service: 'rfp' }],
        headers: { 'X-Csv': '1' },
        retry_policy: { max_attempts: 5, backoff: 'exponential', timeout_ms: 2000 },
        tags: ['csv'],
      });
      expect(rows[1]).toMatchObject({
        app_id: null,
        description: null,
        retry_policy: { max_attempts: 8, backoff: 'exponential', timeout_ms: 2000 },
      });
      expect(rows[2].retry_policy).toEqual({ max_attempts: 5, backoff: 'exponential', timeout_ms: 15000 });
      for (const r of await stored()) expect(secrets.signingSecrets(r)[0]).toMatch(SECRET_SHAPE);
    });

    it('reports each bad NDJSON line with its reason and lands the rest, across chunks', async () => {
      const lines: unknown[] = [
        body(1), // 1
        '{"endpoint_url": "https://93.184.215.14/x", ', // 2 malformed JSON
        { endpoint_url: 42, tags: 'erp', bogus: true }, // 3 validation
        { endpoint_url: 'http://169.254.169.254/latest' }, // 4 metadata
        { endpoint_url: 'http://localhost:8080/x' }, // 5 local hostname
        { endpoint_url: 'http://10.0.0.1/' }, // 6 private
        { endpoint_url: PUBLIC(7), event_filters: [{ service: 'nosuch' }] }, // 7 unknown service
        { endpoint_url: PUBLIC(8), event_filters: [{ service: 'rfp', action: 'exploded' }] }, // 8 unknown type
        { endpoint_url: PUBLIC(9), secret: 'whsec_c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFr' }, // 9 no secret field
        { endpoint_url: PUBLIC(10), name: 'nul\u0000byte' }, // 10 refused by PostgreSQL
        { endpoint_url: PUBLIC(11), request_context: { orgcode: 'someone-else' } }, // 11 other tenant
        { endpoint_url: 'ftp://93.184.215.14/x' }, // 12 scheme
        body(13), // 13
        { endpoint_url: PUBLIC(14), timeout_ms: 2000, retry_policy: { timeout_ms: 3000 } }, // 14 disagree
        body(15), // 15
      ];
      const jobId = await createJob(ndjson(lines));
      await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');

      expect(await loadJob(jobId)).toMatchObject({ processed: 15, succeeded: 3, failed: 12, total_lines: 15 });
      expect((await stored()).map((w) => w.endpoint_url)).toEqual([PUBLIC(1), PUBLIC(13), PUBLIC(15)]);
      const entries = await report(jobId);
      expect(entries.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14]);
      const byLine = new Map(entries.map((e) => [e.line, e]));
      expect(byLine.get(2)).toEqual({
        line: 2,
        error: expect.stringMatching(/^malformed JSON: /) as string,
        raw: lines[1],
      });
      const validation = byLine.get(3)?.error ?? '';
      expect(validation).toMatch(/^validation_failed: /);
      expect(validation).toContain('endpoint_url must be a string');
      expect(validation).toContain('tags must be an array');
      expect(validation).toContain('bogus: unknown field bogus');
      expect(byLine.get(3)?.raw).toBe(JSON.stringify(lines[2]));
      expect(byLine.get(4)?.error).toBe(
        'unsafe_endpoint_url: endpoint_url host 169.254.169.254 is a cloud metadata address',
      );
      expect(byLine.get(5)?.error).toBe('unsafe_endpoint_url: endpoint_url host localhost is reserved for local use');
      expect(byLine.get(6)?.error).toBe('unsafe_endpoint_url: endpoint_url host 10.0.0.1 is a private address');
      expect(byLine.get(7)?.error).toBe(
        'unknown_event_type: event_filters name unknown event types: unknown service nosuch',
      );
      expect(byLine.get(8)?.error).toBe(
        'unknown_event_type: event_filters name unknown event types: unknown event type rfp.exploded',
      );
      // A line carrying a secret: refused (create takes none), and the secret is not in the report.
      expect(byLine.get(9)).toEqual({
        line: 9,
        error: 'validation_failed: secret: unknown field secret',
        raw: JSON.stringify({ endpoint_url: PUBLIC(9), secret: '[redacted]' }),
      });
      expect(JSON.stringify(entries)).not.toContain('c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFr');
      expect(byLine.get(10)?.error).toMatch(/^refused by the database: /);
      expect(byLine.get(11)?.error).toBe("validation_failed: request_context.orgcode must equal the job's orgcode");
      expect(byLine.get(12)?.error).toBe(
        'unsafe_endpoint_url: endpoint_url scheme ftp: is not allowed: use http or https',
      );
      expect(byLine.get(14)?.error).toBe(
        'validation_failed: timeout_ms and retry_policy.timeout_ms disagree: give one',
      );
      // Refused lines leave nothing behind: one audit row and one event per stored webhook.
      expect(
        await count(`SELECT count(*)::int AS n FROM audit_log WHERE orgcode = $1 AND action = 'webhook.create'`, [
          orgcode,
        ]),
      ).toBe(3);
      expect(
        await count(`SELECT count(*)::int AS n FROM events WHERE orgcode = $1 AND event_type = 'ipm.webhook.created'`, [
          orgcode,
        ]),
      ).toBe(3);
    });

    it('reports bad CSV rows: wrong column count, a JSON cell that does not parse, failed checks', async () => {
      const text = [
        'endpoint_url,name,tags', // 1
        `${PUBLIC(1)},one,`, // 2
        `${PUBLIC(2)},two`, // 3 wrong column count
        `${PUBLIC(3)},three,${csvField('[oops')}`, // 4 tags not JSON
        `http://169.254.169.254/latest,four,`, // 5 SSRF
        `${PUBLIC(5)},,${csvField('["bad tag"]')}`, // 6 validation
        `${PUBLIC(6)},six,${csvField('["ok"]')}`, // 7
      ].join('\n');
      const jobId = await createJob(text, { format: 'csv' });
      await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');

      expect(await loadJob(jobId)).toMatchObject({ processed: 6, succeeded: 2, failed: 4 });
      expect((await stored()).map((w) => w.name)).toEqual(['one', 'six']);
      expect(await report(jobId)).toEqual([
        { line: 3, error: 'expected 3 columns, got 2', raw: `${PUBLIC(2)},two` },
        {
          line: 4,
          error: expect.stringMatching(/^tags: malformed JSON: /) as string,
          raw: `${PUBLIC(3)},three,${csvField('[oops')}`,
        },
        {
          line: 5,
          error: 'unsafe_endpoint_url: endpoint_url host 169.254.169.254 is a cloud metadata address',
          raw: 'http://169.254.169.254/latest,four,',
        },
        {
          line: 6,
          error: 'validation_failed: tags: each tag must be 1-64 of a-z A-Z 0-9 _ . : -',
          raw: `${PUBLIC(5)},,${csvField('["bad tag"]')}`,
        },
      ]);
    });

    it('fails a CSV job whose header has a column create does not know (a secret column, say)', async () => {
      const jobId = await createJob(`endpoint_url,secret\r\n${PUBLIC(1)},whsec_x\r\n`, { format: 'csv' });
      await expect(runner.runJob(jobId)).resolves.toBe('failed');
      const job = await loadJob(jobId);
      expect(job.error).toMatch(/unknown column\(s\) secret/);
      expect(await stored()).toHaveLength(0);
    });

    it('respects the tenant cap: the lines past it are refused, the rest land', async () => {
      for (const i of range(9)) await webhooks.create(caller(), { endpoint_url: PUBLIC(i) });
      const jobId = await createJob(ndjson(range(5, 20).map(body)));
      await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');

      expect(await loadJob(jobId)).toMatchObject({ processed: 5, succeeded: 3, failed: 2 });
      expect(await stored()).toHaveLength(CAP);
      const message = `webhook_limit_reached: This organization has reached its limit of ${CAP} webhooks; delete one first`;
      expect((await report(jobId)).map((e) => [e.line, e.error])).toEqual([
        [4, message],
        [5, message],
      ]);
    });

    it('dry run: every check runs, the cap counts the would-be webhooks across chunks, nothing is stored', async () => {
      const lines: unknown[] = [
        ...range(3).map(body), // 1-3
        { endpoint_url: 'http://10.0.0.1/' }, // 4
        '{nope', // 5
        { endpoint_url: PUBLIC(30), name: 'nul\u0000' }, // 6
        ...range(12, 10).map(body), // 7-18: 9 fit under the cap (3 + 9 = 12), then 3 refused
      ];
      const dry = await createJob(ndjson(lines), { options: { dry_run: true } });
      await expect(runner.runJob(dry)).resolves.toBe('completed_with_errors');
      const dryJob = await loadJob(dry);
      expect(dryJob).toMatchObject({ processed: 18, succeeded: 12, failed: 6 });
      expect(await stored()).toHaveLength(0);
      expect(await count(`SELECT count(*)::int AS n FROM audit_log WHERE orgcode = $1`, [orgcode])).toBe(0);
      expect(
        await count(`SELECT count(*)::int AS n FROM events WHERE orgcode = $1 AND event_type LIKE 'ipm.webhook.%'`, [
          orgcode,
        ]),
      ).toBe(0);
      const dryReport = await report(dry);
      expect(dryReport.map((e) => e.line)).toEqual([4, 5, 6, 16, 17, 18]);
      expect(dryReport[0].error).toMatch(/^unsafe_endpoint_url: /);
      expect(dryReport[1].error).toMatch(/^malformed JSON: /);
      expect(dryReport[2].error).toMatch(/^refused by the database: /);
      for (const e of dryReport.slice(3)) expect(e.error).toMatch(/^webhook_limit_reached: /);

      // The real run of the same file lands exactly what the dry run said it would.
      const real = await createJob(ndjson(lines));
      await expect(runner.runJob(real)).resolves.toBe('completed_with_errors');
      expect(await loadJob(real)).toMatchObject({ processed: 18, succeeded: 12, failed: 6 });
      expect(await stored()).toHaveLength(12);
      expect((await report(real)).map((e) => [e.line, e.error])).toEqual(dryReport.map((e) => [e.line, e.error]));
    });

    it("an app's job creates that app's webhooks and refuses another app_id", async () => {
      const jobId = await createJob(
        ndjson([
          { endpoint_url: PUBLIC(1) },
          { endpoint_url: PUBLIC(2), app_id: 'app_other' },
          { endpoint_url: PUBLIC(3), app_id: 'app_mine' },
        ]),
        { app_id: 'app_mine' },
      );
      await expect(runner.runJob(jobId)).resolves.toBe('completed_with_errors');
      expect((await stored()).map((w) => [w.endpoint_url, w.app_id])).toEqual([
        [PUBLIC(1), 'app_mine'],
        [PUBLIC(3), 'app_mine'],
      ]);
      expect(await report(jobId)).toEqual([
        {
          line: 2,
          error: 'forbidden: An application principal can only create webhooks for its own app_id',
          raw: JSON.stringify({ endpoint_url: PUBLIC(2), app_id: 'app_other' }),
        },
      ]);
    });
  });

  describe('export', () => {
    /** The tenant's webhooks as an export shows them: /webhook/get's shape minus secret_last4. */
    async function expectedDocs(org = orgcode, app: string | null = null): Promise<Array<Record<string, unknown>>> {
      return (await stored(org))
        .filter((w) => app === null || w.app_id === app)
        .map((w) => {
          const { secret_last4: _last4, ...doc } = toWebhookDto(w);
          return doc;
        });
    }

    /** Webhooks for `org`, some with every field, one paused, one rotated; returns every secret they have had. */
    async function seed(org: string, n: number): Promise<string[]> {
      const all: string[] = [];
      for (const i of range(n)) {
        const created = await webhooks.create(caller(org), { ...body(i), app_id: i % 3 === 0 ? 'app_x' : undefined });
        all.push(created.secret);
      }
      const [first, second] = await stored(org);
      await webhooks.setStatus(caller(org), { webhook_id: first.webhook_id, status: 'paused', expected_revision: '1' });
      const rotated = await webhooks.rotateSecret(caller(org), {
        webhook_id: second.webhook_id,
        grace_period_seconds: 3600,
      });
      all.push(rotated.secret);
      // The DB decrypt path gives the same secrets (current and, during the grace period, previous).
      for (const row of await stored(org)) {
        for (const secret of secrets.signingSecrets(row)) expect(all).toContain(secret);
      }
      expect(secrets.signingSecrets((await stored(org))[1])).toHaveLength(2);
      return all;
    }

    function expectNoSecrets(bytes: Buffer, all: readonly string[]): void {
      const text = bytes.toString('utf8');
      expect(text).not.toContain('whsec_');
      expect(text).not.toContain('secret_last4');
      expect(text).not.toContain('secret_sealed');
      for (const secret of all) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(secret.slice('whsec_'.length));
      }
    }

    it('exports NDJSON equal to the database rows, field by field, without secrets or other tenants', async () => {
      const other = uniqueOrg('bulkwhk-other');
      const otherSecrets = await seed(other, 3);
      const all = await seed(orgcode, 10);
      const jobId = await createJob(null, { job_type: 'export' });
      await expect(runner.runJob(jobId)).resolves.toBe('completed');

      expect(await loadJob(jobId)).toMatchObject({ status: 'completed', processed: 10, total_lines: 10 });
      const bytes = await file(jobId, 'export');
      const docs = bytes
        .toString('utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const expected = await expectedDocs();
      expect(docs).toEqual(expected);
      for (const doc of docs) expect(Object.keys(doc)).toEqual([...WEBHOOK_EXPORT_COLUMNS]);
      expect(docs.find((d) => d.status === 'paused')).toBeDefined();
      expect(docs.filter((d) => d.previous_secret_expires_at !== null)).toHaveLength(1);
      expectNoSecrets(bytes, [...all, ...otherSecrets]);
      expect(bytes.toString('utf8')).not.toContain(other);
    });

    it('exports CSV: the header is the columns, each cell the DB value (objects as JSON), no secrets', async () => {
      const all = await seed(orgcode, 6);
      const jobId = await createJob(null, { job_type: 'export', format: 'csv' });
      await expect(runner.runJob(jobId)).resolves.toBe('completed');

      const bytes = await file(jobId, 'export');
      expect(bytes.toString('utf8').split('\r\n')[0]).toBe(WEBHOOK_EXPORT_COLUMNS.join(','));
      const rows: Array<Record<string, string>> = [];
      const exported = storage.read({ orgcode, jobId, kind: 'export' });
      for await (const record of parseCsv(exported, { maxLineBytes: 1 << 20 })) {
        expect(record.error).toBeUndefined();
        rows.push({ ...record.fields });
      }
      // Strings as they are, numbers and objects as JSON text, null empty: how the export writes cells.
      const cell = (v: unknown): string =>
        v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
      const expected = await expectedDocs();
      expect(rows).toHaveLength(expected.length);
      rows.forEach((row, k) => {
        for (const column of WEBHOOK_EXPORT_COLUMNS)
          expect([column, row[column]]).toEqual([column, cell(expected[k][column])]);
      });
      expectNoSecrets(bytes, all);
    });

    it("filters: the app's webhooks for an app's job, status, created_at window; count() agrees", async () => {
      await seed(orgcode, 9);
      const rows = await stored();
      // Spread creation times: row k created k hours after 2026-01-01.
      for (const [k, row] of rows.entries()) {
        await ds.query(`UPDATE webhooks SET created_at = $2 WHERE webhook_id = $1`, [
          row.webhook_id,
          new Date(Date.UTC(2026, 0, 1, k)),
        ]);
      }
      const run = async (spec: BulkJobSpec) => {
        const jobId = await createJob(null, { job_type: 'export', ...spec });
        await expect(runner.runJob(jobId)).resolves.toBe('completed');
        const text = (await file(jobId, 'export')).toString('utf8').trimEnd();
        const ids =
          text === '' ? [] : text.split('\n').map((l) => (JSON.parse(l) as { webhook_id: string }).webhook_id);
        const job = await loadJob(jobId);
        expect(job.total_lines).toBe(ids.length);
        expect(await new WebhookExport().count(ds.manager, job)).toBe(ids.length);
        return ids;
      };
      const ids = async (pick: (w: WebhookEntity, k: number) => boolean) =>
        (await stored()).filter((w, k) => pick(w, k)).map((w) => w.webhook_id);

      expect(await run({ app_id: 'app_x' })).toEqual(await ids((w) => w.app_id === 'app_x'));
      expect(await run({ options: { status: 'paused' } })).toEqual(await ids((w) => w.status === 'paused'));
      expect(await run({ options: { status: 'no_such_status' } })).toEqual([]);
      expect(await run({ options: { from_utc: '2026-01-01T02:00:00Z', to_utc: '2026-01-01T05:00:00Z' } })).toEqual(
        await ids((_w, k) => k >= 2 && k < 5),
      );
      // A deleted webhook is not exported.
      await webhooks.delete(caller(), { webhook_id: rows[0].webhook_id });
      expect(await run({})).toEqual(rows.slice(1).map((w) => w.webhook_id));
    });

    it('pages in webhook_id order from a cursor (what a resumed export reads)', async () => {
      await seed(orgcode, 7);
      const source = new WebhookExport();
      const job = await loadJob(await createJob(null, { job_type: 'export' }));
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await source.page(ds.manager, job, after, 3);
        if (page.docs.length === 0) {
          expect(page.cursor).toBeNull();
          break;
        }
        seen.push(...page.docs.map((d) => (d as { webhook_id: string }).webhook_id));
        after = page.cursor;
      }
      expect(seen).toEqual((await stored()).map((w) => w.webhook_id));
    });
  });
});
