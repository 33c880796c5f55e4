import type { Queue } from 'bullmq';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { BulkUrlTokens } from '@ipm/bulk';
import { PgBulkStorage } from '@ipm/bulk';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { inspectQueue } from '../support/deliveries';

// Small enough to test the cap, large enough that an upload spans several 1 MiB parts.
const MAX_UPLOAD = 3 * 1024 * 1024;
process.env.BULK_UPLOAD_MAX_BYTES = String(MAX_UPLOAD);

type Json = Record<string, unknown>;
interface Job extends Json {
  job_id: string;
  status: string;
  revision: string;
}

const ROUTES = [
  'import/create',
  'import/commit',
  'import/continue',
  'export/create',
  'export/continue',
  'job/get',
  'job/list',
  'job/cancel',
] as const;
const GOOD_BODY: Record<(typeof ROUTES)[number], Json> = {
  'import/create': { target: 'events', format: 'ndjson' },
  'import/commit': { job_id: 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', expected_revision: '1' },
  'import/continue': { job_id: 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' },
  'export/create': { target: 'webhooks', format: 'csv' },
  'export/continue': { job_id: 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' },
  'job/get': { job_id: 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' },
  'job/list': {},
  'job/cancel': { job_id: 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' },
};

/** NDJSON lines of about 1 KiB until `bytes`, each numbered. */
function ndjson(bytes: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 1; size < bytes; i++) {
    const line = JSON.stringify({ event_type: 'rfp.created', payload: { n: i, pad: 'x'.repeat(1000) } }) + '\n';
    lines.push(line);
    size += Buffer.byteLength(line);
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** What the test callers hold besides manage_bulk_jobs: each target's own permission. */
const TARGET_PERMISSIONS = ['publish_events', 'manage_webhooks', 'manage_kpis', 'view_audit'] as const;

describe('/bulk routes (api side)', () => {
  let api: TestApi;
  let admin: string;
  let other: string;
  let queue: Queue;
  const org = uniqueOrg('bulk');
  const otherOrg = uniqueOrg('bulk2');

  beforeAll(async () => {
    api = await startApi();
    admin = await token(api.config, {
      sub: 'bulk-admin',
      orgs: [org],
      permissions: ['manage_bulk_jobs', ...TARGET_PERMISSIONS],
    });
    other = await token(api.config, {
      sub: 'other-admin',
      orgs: [otherOrg],
      permissions: ['manage_bulk_jobs', ...TARGET_PERMISSIONS],
    });
    queue = inspectQueue('bulk');
  });
  afterAll(async () => {
    await queue.close();
    await api.close();
  });

  const db = () => api.app.get(DataSource);
  const storage = () => new PgBulkStorage(db());
  const post = (route: string, body: Json, auth: string = admin, orgcode: string = org) =>
    api.http().post(`/ipm/bulk/${route}`).set(bearer(auth)).set('x-orgcode', orgcode).send(body);
  const createImport = async (body: Json = {}, auth = admin, orgcode = org) => {
    const res = await post('import/create', { target: 'events', format: 'ndjson', ...body }, auth, orgcode);
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 200 });
    return res.body.data as { job: Job; upload_url: string };
  };
  const put = (url: string, body: Buffer | string, type = 'application/x-ndjson') =>
    api.http().put(url).set('content-type', type).send(body);
  const uploaded = async (orgcode = org, auth = admin) => {
    const created = await createImport({}, auth, orgcode);
    const res = await put(created.upload_url, '{"event_type":"rfp.created","payload":{}}\n').expect(200);
    return res.body.data.job as Job;
  };
  const auditActions = async (jobId: string) =>
    (
      await db().query<Array<{ action: string }>>(
        'SELECT action FROM audit_log WHERE target_id = $1 ORDER BY audit_id',
        [jobId],
      )
    ).map((r) => r.action);
  const setStatus = (jobId: string, status: string) =>
    db().query('UPDATE bulk_jobs SET status = $2, revision = revision + 1 WHERE job_id = $1', [jobId, status]);
  const queued = async (jobId: string) => {
    const job = await queue.getJob(jobId);
    return job ? { name: job.name, data: job.data as unknown } : undefined;
  };
  /**
   * A request through node:http, for what supertest hides: a chunked body (no Content-Length),
   * written with backpressure, and the raw (still gzipped) response bytes.
   */
  const rawRequest = (
    method: string,
    path: string,
    headers: Record<string, string>,
    chunks: Iterable<Buffer | string> = [],
  ) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const { port } = api.app.getHttpServer().address() as { port: number };
      const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        const received: Buffer[] = [];
        res.on('data', (c: Buffer) => received.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(received) }),
        );
      });
      req.on('error', reject);
      const it = chunks[Symbol.iterator]();
      const pump = (): void => {
        for (let next = it.next(); !next.done; next = it.next()) {
          if (!req.write(next.value)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
  const fieldsOf = (res: { body: { error: { details: Array<{ field?: string }> } } }) =>
    res.body.error.details.map((d) => d.field);

  describe('import: create, upload, commit', () => {
    it('create: awaiting_upload with a signed upload_url; audited; not queued', async () => {
      const res = await post('import/create', { target: 'kpis', format: 'csv', dry_run: true, reason: 'backfill' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ success: true, stats: { call: 'POST /bulk/import/create', service: 'ipm' } });
      const { job, upload_url } = res.body.data as { job: Job; upload_url: string };
      expect(job).toMatchObject({
        job_id: expect.stringMatching(/^job_[0-9A-Z]{26}$/),
        orgcode: org,
        job_type: 'import',
        target: 'kpis',
        format: 'csv',
        status: 'awaiting_upload',
        options: { dry_run: true },
        total_lines: null,
        processed: 0,
        succeeded: 0,
        failed: 0,
        progress: 0,
        last_processed_line: 0,
        upload_bytes: 0,
        error: null,
        created_by: 'bulk-admin',
        revision: '1',
      });
      expect(upload_url).toMatch(/^\/ipm\/bulk\/upload\/[A-Za-z0-9_-]{50,100}$/);
      const expires = Date.parse(job.expires_at as string) - Date.parse(job.created_at as string);
      expect(expires).toBe(api.config.BULK_FILE_TTL_DAYS * 86_400_000);
      expect(await auditActions(job.job_id)).toEqual(['bulk.import.create']);
      const [row] = await db().query('SELECT reason FROM audit_log WHERE target_id = $1', [job.job_id]);
      expect(row.reason).toBe('backfill');
      expect(await queued(job.job_id)).toBeUndefined();
    });

    it('a streamed PUT stores exactly the bytes, in parts; the job records upload_bytes', async () => {
      const { job, upload_url } = await createImport();
      const file = ndjson(2.5 * 1024 * 1024);
      const res = await put(upload_url, file, 'application/octet-stream').expect(200);
      expect(res.body).toMatchObject({
        success: true,
        stats: { call: expect.stringMatching(/^PUT \/bulk\/upload\//) },
      });
      expect(res.body.data.job).toMatchObject({
        job_id: job.job_id,
        status: 'awaiting_upload',
        upload_bytes: file.length,
        revision: '2',
      });
      const ref = { orgcode: org, jobId: job.job_id, kind: 'upload' as const };
      expect(await storage().size(ref)).toEqual({ parts: 3, bytes: file.length });
      const parts: Buffer[] = [];
      for await (const part of storage().read(ref)) parts.push(part);
      expect(Buffer.concat(parts).equals(file)).toBe(true);
      expect(await auditActions(job.job_id)).toEqual(['bulk.import.create', 'bulk.import.upload']);
    });

    it('a chunked PUT (no Content-Length) streams too', async () => {
      const { job, upload_url } = await createImport({ format: 'csv' });
      const { status } = await rawRequest('PUT', upload_url, { 'content-type': 'text/csv' }, [
        'a,b\n',
        '1,2\n',
        '3,4\n',
      ]);
      expect(status).toBe(200);
      expect(await storage().size({ orgcode: org, jobId: job.job_id, kind: 'upload' })).toEqual({
        parts: 1,
        bytes: 12,
      });
    });

    it('the token is single use: a replay is a 401 saying so', async () => {
      const { upload_url } = await createImport();
      await put(upload_url, '{}\n').expect(200);
      const replay = await put(upload_url, '{}\n').expect(401);
      expect(replay.body).toMatchObject({
        success: false,
        error: { code: 'unauthorized', message: expect.stringContaining('already used') },
      });
    });

    it('two PUTs racing on one token: exactly one is stored', async () => {
      const { job, upload_url } = await createImport();
      const [first, second] = await Promise.all([put(upload_url, '{"a":1}\n'), put(upload_url, '{"b":2}\n')]);
      expect([first.status, second.status].sort()).toEqual([200, 401]);
      const won = first.status === 200 ? '{"a":1}\n' : '{"b":2}\n';
      const parts: Buffer[] = [];
      for await (const part of storage().read({ orgcode: org, jobId: job.job_id, kind: 'upload' })) parts.push(part);
      expect(Buffer.concat(parts).toString()).toBe(won);
    });

    it('oversize: 413 envelope, nothing kept, and the URL may be retried', async () => {
      const { job, upload_url } = await createImport();
      const res = await put(upload_url, ndjson(MAX_UPLOAD + 1)).expect(413);
      expect(res.body).toMatchObject({ success: false, error: { code: 'payload_too_large' } });
      expect(await storage().size({ orgcode: org, jobId: job.job_id, kind: 'upload' })).toEqual({ parts: 0, bytes: 0 });
      await put(upload_url, '{}\n').expect(200);
    });

    it('oversize while streaming (chunked, no Content-Length): 413 and what was written is deleted', async () => {
      const { job, upload_url } = await createImport();
      const chunk = ndjson(256 * 1024);
      const chunks = Array.from({ length: Math.ceil(MAX_UPLOAD / chunk.length) + 2 }, () => chunk);
      const result = await rawRequest('PUT', upload_url, { 'content-type': 'application/x-ndjson' }, chunks);
      expect(result.status).toBe(413);
      expect(JSON.parse(result.body.toString())).toMatchObject({
        success: false,
        error: { code: 'payload_too_large' },
      });
      expect(await storage().size({ orgcode: org, jobId: job.job_id, kind: 'upload' })).toEqual({ parts: 0, bytes: 0 });
      const [row] = await db().query('SELECT upload_token_id, upload_bytes FROM bulk_jobs WHERE job_id = $1', [
        job.job_id,
      ]);
      expect(row.upload_token_id).not.toBeNull();
      expect(row.upload_bytes).toBe('0');
    });

    it('an empty upload is a 422 and the URL stays usable', async () => {
      const { upload_url } = await createImport();
      await put(upload_url, '').expect(422);
      await put(upload_url, '{}\n').expect(200);
    });

    it('an expired, forged, foreign or other-kind token is a 401 that says which', async () => {
      const tokens = api.app.get(BulkUrlTokens);
      const { job, upload_url } = await createImport();
      const [row] = await db().query('SELECT upload_token_id FROM bulk_jobs WHERE job_id = $1', [job.job_id]);
      const claims = {
        kind: 'upload' as const,
        job_id: job.job_id,
        orgcode: org,
        token_id: row.upload_token_id as string,
      };
      const refused = async (path: string, reason: string): Promise<void> => {
        const res = await put(path, '{}\n').expect(401);
        expect(res.body).toMatchObject({
          success: false,
          error: { code: 'unauthorized', message: expect.stringContaining(reason) },
        });
      };
      await refused(`/ipm/bulk/upload/${tokens.sign({ ...claims, expires_at: Date.now() - 1000 })}`, 'expired');
      await refused(`${upload_url.slice(0, -3)}AAA`, 'not genuine');
      await refused('/ipm/bulk/upload/nothing', 'malformed');
      // a genuine signature for another tenant's job: as unknown as a made-up one
      const theirs = await createImport({}, other, otherOrg);
      const [their] = await db().query('SELECT upload_token_id FROM bulk_jobs WHERE job_id = $1', [theirs.job.job_id]);
      const foreign = tokens.sign({ ...claims, job_id: theirs.job.job_id, token_id: their.upload_token_id as string });
      await refused(`/ipm/bulk/upload/${foreign}`, 'not genuine');
      // a token of another kind does not open the upload
      await refused(`/ipm/bulk/upload/${tokens.sign({ kind: 'report', job_id: job.job_id, orgcode: org })}`, 'kind');
      await put(upload_url, '{}\n').expect(200);
    });

    it('a URL of a job no longer awaiting its upload is a 401', async () => {
      const { job, upload_url } = await createImport();
      await post('job/cancel', { job_id: job.job_id }).expect(200);
      await put(upload_url, '{}\n').expect(401);
    });

    it('JSON routes still refuse the upload content types (415)', async () => {
      const res = await api
        .http()
        .post('/ipm/bulk/job/list')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .set('content-type', 'application/octet-stream')
        .send(Buffer.from('{}'))
        .expect(415);
      expect(res.body).toMatchObject({ success: false, error: { code: 'unsupported_media_type' } });
    });

    it('commit: 428 without expected_revision, 409 when stale, 422 before an upload; then queued and enqueued', async () => {
      const { job, upload_url } = await createImport();
      const missing = await post('import/commit', { job_id: job.job_id }).expect(428);
      expect(missing.body.error).toMatchObject({ code: 'precondition_required' });
      await post('import/commit', { job_id: job.job_id, expected_revision: '1' }).expect(422);
      const up = await put(upload_url, '{}\n').expect(200);
      expect(up.body.data.job.revision).toBe('2');
      const stale = await post('import/commit', { job_id: job.job_id, expected_revision: '1' }).expect(409);
      expect(stale.body.error).toMatchObject({ code: 'revision_mismatch' });
      const res = await post('import/commit', { job_id: job.job_id, expected_revision: '2', reason: 'go' }).expect(200);
      expect(res.body.data.job).toMatchObject({ job_id: job.job_id, status: 'queued', revision: '3' });
      expect(await queued(job.job_id)).toEqual({ name: 'bulk.run', data: { job_id: job.job_id } });
      expect(await auditActions(job.job_id)).toEqual([
        'bulk.import.create',
        'bulk.import.upload',
        'bulk.import.commit',
      ]);
      // committed twice: an illegal transition
      const again = await post('import/commit', { job_id: job.job_id, expected_revision: '3' }).expect(409);
      expect(again.body.error).toMatchObject({ code: 'illegal_transition' });
    });
  });

  describe('continue and cancel', () => {
    it('import/continue: a failed or cancelled import goes back to queued and is enqueued', async () => {
      const job = await uploaded();
      await post('import/continue', { job_id: job.job_id }).expect(409); // awaiting_upload
      for (const from of ['failed', 'cancelled']) {
        await setStatus(job.job_id, from);
        await queue.remove(job.job_id);
        const res = await post('import/continue', { job_id: job.job_id }).expect(200);
        expect(res.body.data.job).toMatchObject({ status: 'queued', error: null, finished_at: null });
        expect(await queued(job.job_id)).toEqual({ name: 'bulk.run', data: { job_id: job.job_id } });
      }
      const stale = await setStatus(job.job_id, 'failed').then(() =>
        post('import/continue', { job_id: job.job_id, expected_revision: '1' }),
      );
      expect(stale.status).toBe(409);
      expect(await auditActions(job.job_id)).toEqual([
        'bulk.import.create',
        'bulk.import.upload',
        'bulk.import.continue',
        'bulk.import.continue',
      ]);
    });

    it('import/continue of a job cancelled before its upload is a 422', async () => {
      const { job } = await createImport();
      await post('job/cancel', { job_id: job.job_id }).expect(200);
      await post('import/continue', { job_id: job.job_id }).expect(422);
    });

    it('cancel: through the machine; 409 when stale or from a finished state; audited', async () => {
      const { job } = await createImport();
      await post('job/cancel', { job_id: job.job_id, expected_revision: '9' }).expect(409);
      const res = await post('job/cancel', { job_id: job.job_id, expected_revision: '1' }).expect(200);
      expect(res.body.data.job).toMatchObject({ status: 'cancelled', revision: '2', finished_at: expect.any(String) });
      const again = await post('job/cancel', { job_id: job.job_id }).expect(409);
      expect(again.body.error).toMatchObject({ code: 'illegal_transition' });
      const done = await uploaded();
      await setStatus(done.job_id, 'completed');
      await post('job/cancel', { job_id: done.job_id }).expect(409);
      expect(await auditActions(job.job_id)).toEqual(['bulk.import.create', 'bulk.job.cancel']);
    });
  });

  describe('export', () => {
    it('export/create: queued with its filters, enqueued, audited', async () => {
      const res = await post('export/create', {
        target: 'events',
        format: 'ndjson',
        from_utc: '2026-01-01T00:00:00Z',
        to_utc: '2026-02-01T00:00:00Z',
        event_type: 'rfp.created',
      }).expect(200);
      const job = res.body.data.job as Job;
      expect(job).toMatchObject({
        job_type: 'export',
        target: 'events',
        status: 'queued',
        options: { from_utc: '2026-01-01T00:00:00Z', to_utc: '2026-02-01T00:00:00Z', event_type: 'rfp.created' },
      });
      expect(res.body.data.upload_url).toBeUndefined();
      expect(await queued(job.job_id)).toEqual({ name: 'bulk.run', data: { job_id: job.job_id } });
      expect(await auditActions(job.job_id)).toEqual(['bulk.export.create']);
      const backwards = await post('export/create', {
        target: 'events',
        format: 'csv',
        from_utc: '2026-02-01T00:00:00Z',
        to_utc: '2026-01-01T00:00:00Z',
      }).expect(400);
      expect(fieldsOf(backwards)).toEqual(['to_utc']);
    });

    it('a target needs the permission of its own routes (403), and takes only its own filters (400)', async () => {
      const bulkOnly = await token(api.config, { orgs: [org], permissions: ['manage_bulk_jobs'] });
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['import/create', { target: 'events', format: 'ndjson' }, 'publish_events'],
        ['import/create', { target: 'webhooks', format: 'ndjson' }, 'manage_webhooks'],
        ['import/create', { target: 'kpis', format: 'csv' }, 'manage_kpis'],
        ['export/create', { target: 'deliveries', format: 'ndjson' }, 'manage_webhooks'],
        ['export/create', { target: 'webhooks', format: 'ndjson' }, 'manage_webhooks'],
        ['export/create', { target: 'kpis', format: 'ndjson' }, 'view_kpis or manage_kpis'],
        ['export/create', { target: 'audit', format: 'ndjson' }, 'view_audit'],
      ];
      for (const [route, body, needed] of cases) {
        const res = await post(route, body, bulkOnly).expect(403);
        expect(res.body.error).toMatchObject({ code: 'forbidden' });
        expect(res.body.error.message).toContain(needed);
      }
      // An events export needs nothing more: any caller reads its tenant's change feed.
      await post('export/create', { target: 'events', format: 'ndjson' }, bulkOnly).expect(200);
      const auditor = await token(api.config, { orgs: [org], permissions: ['manage_bulk_jobs', 'view_audit'] });
      await post('export/create', { target: 'audit', format: 'csv' }, auditor).expect(200);

      const wrongFilter = await post('export/create', { target: 'audit', format: 'csv', status: 'failed' }, auditor);
      expect(wrongFilter.status).toBe(400);
      expect(wrongFilter.body.error.details).toEqual([
        { field: 'status', message: 'status is not a filter of an export of audit' },
      ]);
      const hooks = await token(api.config, { orgs: [org], permissions: ['manage_bulk_jobs', 'manage_webhooks'] });
      const badStatus = await post('export/create', { target: 'deliveries', format: 'csv', status: 'nope' }, hooks);
      expect(badStatus.status).toBe(400);
      expect(badStatus.body.error.details[0]).toMatchObject({ field: 'status' });
      expect(badStatus.body.error.details[0].message).toContain('dead_letter');
      await post('export/create', { target: 'deliveries', format: 'csv', status: 'dead_letter' }, hooks).expect(200);
    });

    it('export/continue: from failed; an import id is a 404 there', async () => {
      const res = await post('export/create', { target: 'events', format: 'csv' }).expect(200);
      const job = res.body.data.job as Job;
      await post('export/continue', { job_id: job.job_id }).expect(409);
      await setStatus(job.job_id, 'failed');
      await queue.remove(job.job_id);
      const cont = await post('export/continue', { job_id: job.job_id }).expect(200);
      expect(cont.body.data.job.status).toBe('queued');
      expect(await queued(job.job_id)).toEqual({ name: 'bulk.run', data: { job_id: job.job_id } });
      const imp = await uploaded();
      await setStatus(imp.job_id, 'failed');
      await post('export/continue', { job_id: imp.job_id }).expect(404);
      await post('import/continue', { job_id: job.job_id }).expect(404);
    });
  });

  describe('get, list and the signed file URLs', () => {
    it('get: counters, no URLs before there are files', async () => {
      const job = await uploaded();
      const res = await post('job/get', { job_id: job.job_id }).expect(200);
      expect(res.body.data).toEqual({ job: expect.objectContaining({ job_id: job.job_id, upload_bytes: 42 }) });
      await db().query(
        'UPDATE bulk_jobs SET total_lines = 200, processed = 50, succeeded = 48, failed = 2, last_processed_line = 50 WHERE job_id = $1',
        [job.job_id],
      );
      const again = await post('job/get', { job_id: job.job_id }).expect(200);
      expect(again.body.data.job).toMatchObject({
        total_lines: 200,
        processed: 50,
        succeeded: 48,
        failed: 2,
        progress: 0.25,
        last_processed_line: 50,
      });
    });

    it('report_url streams the report, gzipped when accepted; 404 once the token expires or the job expired', async () => {
      const job = await uploaded();
      const report = Array.from({ length: 500 }, (_, i) =>
        JSON.stringify({ line: i + 1, error: 'bad json', raw: '{' }),
      ).join('\n');
      const writer = storage().createWriter({ orgcode: org, jobId: job.job_id, kind: 'report' }, { partSize: 4096 });
      await writer.write(Buffer.from(report));
      await writer.finish();
      await setStatus(job.job_id, 'completed_with_errors');
      const res = await post('job/get', { job_id: job.job_id }).expect(200);
      const url = res.body.data.report_url as string;
      expect(url).toMatch(/^\/ipm\/bulk\/file\/[A-Za-z0-9_-]{50,100}$/);
      expect(res.body.data.download_url).toBeUndefined();
      expect(res.body.data.job.progress).toBe(1);

      const plain = await api.http().get(url).set('accept-encoding', 'identity').buffer(true).expect(200);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.headers['content-type']).toMatch(/^application\/x-ndjson/);
      expect(plain.headers.vary).toMatch(/Accept-Encoding/i);
      expect(plain.text).toBe(report);

      // raw bytes (supertest would gunzip them for us)
      const zipped = await rawRequest('GET', url, { 'accept-encoding': 'gzip, deflate' });
      expect(zipped.status).toBe(200);
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(zipped.body.length).toBeLessThan(Buffer.byteLength(report) / 4);
      expect(gunzipSync(zipped.body).toString()).toBe(report);

      const tokens = api.app.get(BulkUrlTokens);
      const expired = tokens.sign({ kind: 'report', job_id: job.job_id, orgcode: org, expires_at: Date.now() - 1 });
      const gone = await api.http().get(`/ipm/bulk/file/${expired}`).expect(401);
      expect(gone.body).toMatchObject({
        success: false,
        error: { code: 'unauthorized', message: expect.stringContaining('expired') },
      });
      await api
        .http()
        .get(`/ipm/bulk/file/${tokens.sign({ kind: 'report', job_id: job.job_id, orgcode: otherOrg })}`)
        .expect(401);
      await api.http().get('/ipm/bulk/file/garbage').expect(401);
      await setStatus(job.job_id, 'expired');
      await api.http().get(url).expect(404);
      expect((await post('job/get', { job_id: job.job_id }).expect(200)).body.data.report_url).toBeUndefined();
    });

    it('download_url for a completed export; none before', async () => {
      const res = await post('export/create', { target: 'webhooks', format: 'csv' }).expect(200);
      const job = res.body.data.job as Job;
      expect((await post('job/get', { job_id: job.job_id }).expect(200)).body.data.download_url).toBeUndefined();
      const early = api.app.get(BulkUrlTokens).fileUrl('export', org, job.job_id);
      await api.http().get(early).expect(404);
      const writer = storage().createWriter({ orgcode: org, jobId: job.job_id, kind: 'export' });
      await writer.write(Buffer.from('webhook_id,name\nwhk_1,a\n'));
      await writer.finish();
      await setStatus(job.job_id, 'completed');
      const got = await post('job/get', { job_id: job.job_id }).expect(200);
      const file = await api
        .http()
        .get(got.body.data.download_url as string)
        .set('accept-encoding', 'identity')
        .expect(200);
      expect(file.headers['content-type']).toMatch(/^text\/csv/);
      expect(file.text).toBe('webhook_id,name\nwhk_1,a\n');
      // a report token does not open the export, nor the other way round
      expect(got.body.data.report_url).toBeUndefined();
    });

    it('list: newest first, keyset pages, filters status and job_type, tenant-scoped', async () => {
      const listOrg = uniqueOrg('bulkl');
      const boss = await token(api.config, {
        orgs: [listOrg],
        permissions: ['manage_bulk_jobs', ...TARGET_PERMISSIONS],
      });
      const a = (await createImport({}, boss, listOrg)).job;
      const b = (await createImport({}, boss, listOrg)).job;
      const c = (await post('export/create', { target: 'kpis', format: 'ndjson' }, boss, listOrg).expect(200)).body.data
        .job as Job;
      await post('job/cancel', { job_id: a.job_id }, boss, listOrg).expect(200);
      const ids = async (body: Json) =>
        ((await post('job/list', body, boss, listOrg).expect(200)).body.data.items as Job[]).map((j) => j.job_id);
      expect(await ids({})).toEqual([c.job_id, b.job_id, a.job_id]);
      expect(await ids({ status: 'cancelled' })).toEqual([a.job_id]);
      expect(await ids({ job_type: 'export' })).toEqual([c.job_id]);
      expect(await ids({ job_type: 'import', status: 'awaiting_upload' })).toEqual([b.job_id]);
      const first = await post('job/list', { limit: 2 }, boss, listOrg).expect(200);
      expect(first.body.data.items).toHaveLength(2);
      const next = first.body.data.next_token as string;
      const second = await post('job/list', { limit: 2, next_token: next }, boss, listOrg).expect(200);
      expect((second.body.data.items as Job[]).map((j) => j.job_id)).toEqual([a.job_id]);
      expect(second.body.data.next_token).toBeUndefined();
      await post('job/list', { limit: 2, next_token: next, status: 'queued' }, boss, listOrg).expect(400);
      expect((await post('job/list', {}).expect(200)).body.data.items).not.toEqual(
        expect.arrayContaining([expect.objectContaining({ job_id: a.job_id })]),
      );
    });

    it('list status "active" (seed 000): the jobs in progress, awaiting_upload, queued and running', async () => {
      const listOrg = uniqueOrg('bulka');
      const boss = await token(api.config, {
        orgs: [listOrg],
        permissions: ['manage_bulk_jobs', ...TARGET_PERMISSIONS],
      });
      const waiting = (await createImport({}, boss, listOrg)).job;
      const cancelled = (await createImport({}, boss, listOrg)).job;
      await post('job/cancel', { job_id: cancelled.job_id }, boss, listOrg).expect(200);
      const exported = (await post('export/create', { target: 'kpis', format: 'ndjson' }, boss, listOrg).expect(200))
        .body.data.job as Job;
      // No worker runs here: the export stays queued. A running job, as a worker leaves it mid-way:
      const running = (await createImport({}, boss, listOrg)).job;
      await api.app
        .get(DataSource)
        .query(`UPDATE bulk_jobs SET status = 'running' WHERE job_id = $1 AND orgcode = $2`, [running.job_id, listOrg]);
      const active = await post('job/list', { status: 'active' }, boss, listOrg).expect(200);
      expect((active.body.data.items as Job[]).map((j) => [j.job_id, j.status])).toEqual([
        [running.job_id, 'running'],
        [exported.job_id, 'queued'],
        [waiting.job_id, 'awaiting_upload'],
      ]);
      const exports = await post('job/list', { status: 'active', job_type: 'export' }, boss, listOrg).expect(200);
      expect((exports.body.data.items as Job[]).map((j) => j.job_id)).toEqual([exported.job_id]);
      // pages keep the filter; another tenant's active jobs are not this one's
      const first = await post('job/list', { status: 'active', limit: 2 }, boss, listOrg).expect(200);
      const rest = await post(
        'job/list',
        { status: 'active', limit: 2, next_token: first.body.data.next_token as string },
        boss,
        listOrg,
      ).expect(200);
      expect((rest.body.data.items as Job[]).map((j) => j.job_id)).toEqual([waiting.job_id]);
      const mine = (
        (await post('job/list', { status: 'active', limit: 256 }).expect(200)).body.data.items as Job[]
      ).map((j) => j.job_id);
      expect(mine).not.toContain(waiting.job_id);
      for (const status of ['ACTIVE', 'in_progress']) {
        const bad = await post('job/list', { status }, boss, listOrg).expect(400);
        expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'status' })]);
      }
    });
  });

  describe('400 per bad field', () => {
    it.each([
      ['import/create', { target: 'audit', format: 'xml', dry_run: 'yes' }, ['target', 'format', 'dry_run']],
      ['import/commit', { job_id: 'whk_1', expected_revision: 1 }, ['job_id', 'expected_revision']],
      ['import/continue', { job_id: 'job_x', colour: 'red' }, ['job_id', 'colour']],
      ['export/create', { target: 'secrets', format: 'csv', from_utc: 'yesterday' }, ['target', 'from_utc']],
      ['export/continue', {}, ['job_id']],
      ['job/get', { job_id: 42 }, ['job_id']],
      ['job/list', { status: 'done', job_type: 'sync' }, ['status', 'job_type']],
      ['job/cancel', { job_id: 'job_1', expected_revision: 'one' }, ['job_id', 'expected_revision']],
    ])('%s', async (route, body, fields) => {
      const res = await post(route, body).expect(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(new Set(fieldsOf(res))).toEqual(new Set(fields));
    });
  });

  describe('401, 403 and 404', () => {
    it.each(ROUTES)('%s: 401 without credentials, 403 without manage_bulk_jobs', async (route) => {
      await api.http().post(`/ipm/bulk/${route}`).set('x-orgcode', org).send(GOOD_BODY[route]).expect(401);
      const weak = await token(api.config, { orgs: [org], permissions: ['manage_webhooks'] });
      const res = await post(route, GOOD_BODY[route], weak).expect(403);
      expect(res.body.error.code).toBe('forbidden');
    });

    it('an API key bound to an app sees and changes only that app’s jobs', async () => {
      const appOrg = uniqueOrg('bulkapp');
      const boss = await token(api.config, {
        orgs: [appOrg],
        permissions: ['manage_bulk_jobs', 'publish_events', 'manage_api_keys'],
      });
      const mintKey = async (appId: string) =>
        (
          await api
            .http()
            .post('/ipm/apikey/create')
            .set(bearer(boss))
            .set('x-orgcode', appOrg)
            .send({ name: appId, app_id: appId, permissions: ['manage_bulk_jobs', 'publish_events'] })
            .expect(200)
        ).body.data.key as string;
      const asKey = (key: string, route: string, body: Json) =>
        api.http().post(`/ipm/bulk/${route}`).set('x-api-key', key).set('x-orgcode', appOrg).send(body);
      const keyA = await mintKey('app_a');
      const keyB = await mintKey('app_b');
      const a = (await asKey(keyA, 'import/create', { target: 'events', format: 'ndjson' }).expect(200)).body.data
        .job as Job;
      expect(a.app_id).toBe('app_a');
      await asKey(keyB, 'job/get', { job_id: a.job_id }).expect(404);
      await asKey(keyB, 'job/cancel', { job_id: a.job_id }).expect(404);
      expect((await asKey(keyB, 'job/list', {}).expect(200)).body.data.items).toEqual([]);
      const seenByA = (await asKey(keyA, 'job/list', {}).expect(200)).body.data.items as Job[];
      expect(seenByA.map((j) => j.job_id)).toEqual([a.job_id]);
      await post('job/get', { job_id: a.job_id }, boss, appOrg).expect(200);
    });

    it('import/create with an Idempotency-Key answers a repeat with the first response', async () => {
      const send = () =>
        api
          .http()
          .post('/ipm/bulk/import/create')
          .set(bearer(admin))
          .set('x-orgcode', org)
          .set('Idempotency-Key', `bulk-${org}`)
          .send({ target: 'webhooks', format: 'csv' })
          .expect(200);
      const first = await send();
      const again = await send();
      expect(again.body.data).toEqual(first.body.data);
      const [{ n }] = await db().query<Array<{ n: number }>>(
        "SELECT count(*)::int AS n FROM bulk_jobs WHERE orgcode = $1 AND target = 'webhooks' AND job_type = 'import'",
        [org],
      );
      expect(n).toBe(1);
    });

    it('another tenant’s job is a 404 on every route, and never listed', async () => {
      const theirs = await uploaded(otherOrg, other);
      const id = theirs.job_id;
      await post('job/get', { job_id: id }).expect(404);
      await post('import/commit', { job_id: id, expected_revision: theirs.revision }).expect(404);
      await post('job/cancel', { job_id: id }).expect(404);
      await setStatus(id, 'failed');
      await post('import/continue', { job_id: id }).expect(404);
      await post('export/continue', { job_id: id }).expect(404);
      const listed = (await post('job/list', { limit: 256 }).expect(200)).body.data.items as Job[];
      expect(listed.map((j) => j.job_id)).not.toContain(id);
      // a tenant the caller is not in
      await post('job/list', {}, admin, otherOrg).expect(404);
      // unknown ids are 404 too
      await post('job/get', { job_id: 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }).expect(404);
    });
  });
});
