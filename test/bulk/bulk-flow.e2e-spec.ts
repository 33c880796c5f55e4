import { INestApplicationContext } from '@nestjs/common';
import { gunzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { bearer, TestApi, uniqueOrg } from '../support/api';
import { postBulk, startBulkStack } from '../support/bulk-stack';
import { waitFor } from '../support/wait';

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
    ({ api, worker, jwt } = await startBulkStack(org));
  });
  afterAll(async () => {
    await worker.close();
    await api.close();
  });

  const post = (route: string, body: Json) => postBulk(api, jwt, org, route, body);

  /** The bytes of a GET on a signed file URL, gunzipped when the server gzipped them. */
  async function download(url: string, gzip: boolean): Promise<{ text: string; encoding: unknown; type: unknown }> {
    const res = await api
      .http()
      .get(url)
      .set('accept-encoding', gzip ? 'gzip' : 'identity')
      .buffer(true)
      .parse((r, callback) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => callback(null, Buffer.concat(chunks)));
      })
      .expect(200);
    // supertest may already have gunzipped it (it does for gzip responses); accept either.
    const body = res.body as Buffer;
    const plain = body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body;
    return {
      text: plain.toString('utf8'),
      encoding: res.headers['content-encoding'],
      type: res.headers['content-type'],
    };
  }

  const finished = (jobId: string) =>
    waitFor(
      `job ${jobId} to finish`,
      async () => {
        const res = await post('job/get', { job_id: jobId }).expect(200);
        const data = res.body.data as { job: Job; report_url?: string; download_url?: string };
        return ['completed', 'completed_with_errors', 'failed'].includes(data.job.status) ? data : undefined;
      },
      20_000,
    );

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

    const done = await finished(job.job_id);
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
      .query<Array<{ stored: number }>>(
        `SELECT count(*)::int AS stored FROM events WHERE orgcode = $1 AND source = 'api'`,
        [org],
      );
    expect(stored).toBe(100);

    expect(done.report_url).toBeDefined();
    const report = await download(done.report_url as string, true);
    expect(report.encoding).toBe('gzip');
    const entries = report.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; error: string });
    expect(entries.map((e) => e.line)).toEqual([11, 51, 103]);
    expect(entries[0].error).toMatch(/malformed JSON/);
    expect(entries[2].error).toMatch(/duplicate event_id FLOW-7/);
  });

  it('exports the imported events (NDJSON, gzip) and the same as CSV: each equals the change feed', async () => {
    // The feed shows a transaction once every older one has ended: wait for the import's to show.
    const feed = await waitFor('the imported events in the change feed', async () => {
      const items: Json[] = [];
      let next_token: string | undefined;
      do {
        const res = await api
          .http()
          .post('/ipm/cdc/list')
          .set(bearer(jwt))
          .set('x-orgcode', org)
          .send({ limit: 256, ...(next_token ? { next_token } : {}) })
          .expect(200);
        items.push(...(res.body.data.items as Json[]));
        next_token = res.body.data.next_token ?? undefined;
      } while (next_token);
      return items.filter((e) => e.source === 'api').length === 100 ? items : undefined;
    });
    const imported = feed.filter((e) => e.source === 'api');
    const created = await post('export/create', { target: 'events', format: 'ndjson' }).expect(200);
    const ndjsonJob = (created.body.data as { job: Job }).job.job_id;
    const done = await finished(ndjsonJob);
    expect(done.job).toMatchObject({ status: 'completed', processed: feed.length, total_lines: feed.length });
    expect(done.report_url).toBeUndefined();
    const file = await download(done.download_url as string, true);
    expect(file.encoding).toBe('gzip');
    expect(file.type).toMatch(/^application\/x-ndjson/);
    const lines = file.text.trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l) as Json)).toEqual(feed);

    const csvCreated = await post('export/create', {
      target: 'events',
      format: 'csv',
      event_type: 'rfp.created',
    }).expect(200);
    const csvDone = await finished((csvCreated.body.data as { job: Job }).job.job_id);
    const csv = await download(csvDone.download_url as string, false);
    expect(csv.encoding).toBeUndefined();
    expect(csv.type).toMatch(/^text\/csv/);
    const rows = csv.text.trimEnd().split('\r\n');
    expect(rows[0]).toBe(
      'event_id,event_type,service,action,payload,logical_guid,channel_code,app_id,source,occurred_at,received_at,sequence,position',
    );
    expect(rows.slice(1).map((r) => r.split(',')[0])).toEqual(imported.map((e) => e.event_id));
  });
});
