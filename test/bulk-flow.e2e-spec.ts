import { INestApplicationContext } from '@nestjs/common';
import { gunzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { createWorkerApp } from '../apps/worker/src/bootstrap';
import { bearer, startApi, TestApi, token, uniqueOrg } from './support/api';
import { quietDatabase } from './support/receiver';
import { waitFor } from './support/wait';

// The whole import path: create, upload through the signed URL, commit, a real worker runs it in
// chunks, the job reports its counts, and the error report downloads (gzip) through its signed URL.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:bulkflow`;
process.env.WORKER_PORT = '0';
process.env.BULK_CHUNK_LINES = '25';

type Json = Record<string, unknown>;
interface Job {
  job_id: string;
  status: string;
  revision: string;
  total_lines: number | null;
  processed: number;
  succeeded: number;
  failed: number;
  progress: number;
}

const event = (n: number): string =>
  JSON.stringify({
    event_type: 'rfp.created',
    event_id: `FLOW-${n}`,
    payload: { rfp_id: `R-${n}`, title: 'Flow', buyer: { org_id: 'O', name: 'N' }, status: 'open' },
  });

describe('bulk import end to end (api + worker, real PostgreSQL and Redis)', () => {
  let api: TestApi;
  let worker: INestApplicationContext;
  let jwt: string;
  const org = uniqueOrg('bulkflow');

  beforeAll(async () => {
    api = await startApi();
    await quietDatabase(api.app.get(DataSource));
    worker = await createWorkerApp();
    await worker.init();
    jwt = await token(api.config, { orgs: [org], permissions: ['manage_bulk_jobs'] });
  });
  afterAll(async () => {
    await worker.close();
    await api.close();
  });

  const post = (route: string, body: Json) =>
    api.http().post(`/ipm/bulk/${route}`).set(bearer(jwt)).set('x-orgcode', org).send(body);

  it('imports 100 good lines and reports 3 bad ones, in chunks, with counts and a downloadable report', async () => {
    const lines = Array.from({ length: 100 }, (_, i) => event(i));
    lines.splice(10, 0, '{"event_type": "rfp.created", "payload": ');
    lines.splice(50, 0, JSON.stringify({ event_type: 'rfp.created', payload: { rfp_id: 'only-id' } }));
    lines.push(event(7)); // a duplicate event_id
    const created = await post('import/create', { target: 'events', format: 'ndjson' }).expect(200);
    const { job, upload_url } = created.body.data as { job: Job; upload_url: string };
    const upload = await api
      .http()
      .put(upload_url)
      .set('content-type', 'application/x-ndjson')
      .send(`${lines.join('\n')}\n`)
      .expect(200);
    const revision = (upload.body.data.job as Job).revision;
    await post('import/commit', { job_id: job.job_id, expected_revision: revision }).expect(200);

    const done = await waitFor(
      'the import to finish',
      async () => {
        const res = await post('job/get', { job_id: job.job_id }).expect(200);
        const data = res.body.data as { job: Job; report_url?: string };
        return ['completed', 'completed_with_errors', 'failed'].includes(data.job.status) ? data : undefined;
      },
      20_000,
    );
    expect(done.job).toMatchObject({
      status: 'completed_with_errors',
      total_lines: 103,
      processed: 103,
      succeeded: 100,
      failed: 3,
      progress: 1,
    });
    const [{ stored }] = await api.app
      .get(DataSource)
      .query<Array<{ stored: number }>>(`SELECT count(*)::int AS stored FROM events WHERE orgcode = $1 AND source = 'api'`, [org]);
    expect(stored).toBe(100);

    expect(done.report_url).toBeDefined();
    const report = await api
      .http()
      .get(done.report_url as string)
      .set('accept-encoding', 'gzip')
      .buffer(true)
      .parse((res, callback) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => callback(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect(report.headers['content-encoding']).toBe('gzip');
    // supertest may already have gunzipped it (it does for gzip responses); accept either.
    const body = report.body as Buffer;
    const plain = body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body;
    const entries = plain
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; error: string });
    expect(entries.map((e) => e.line)).toEqual([11, 51, 103]);
    expect(entries[0].error).toMatch(/malformed JSON/);
    expect(entries[2].error).toMatch(/duplicate event_id FLOW-7/);
  });
});
