import { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobProducer } from '@ipm/queues';
import { TestApi, uniqueOrg } from '../support/api';
import { postBulk, startBulkStack } from '../support/bulk-stack';
import { waitFor } from '../support/wait';

// Expiry seen through HTTP: jobs made through the api and run by a real worker (an import with a
// report, an export, one never uploaded, one cancelled); their expiry moved into the past;
// `maintenance.bulk_expiry` enqueued on the real maintenance queue. Afterwards each job reads
// `expired` without URLs, and the URLs handed out before open nothing.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:bulkexpiry-e2e`;
process.env.WORKER_PORT = '0';
process.env.BULK_CHUNK_LINES = '10';

type Json = Record<string, unknown>;
interface Job {
  job_id: string;
  status: string;
  revision: string;
  expires_at: string;
}
interface Detail {
  job: Job;
  download_url?: string;
  report_url?: string;
}

const event = (n: number): string =>
  JSON.stringify({
    event_type: 'rfp.created',
    event_id: `EXP-${n}`,
    payload: { rfp_id: `R-${n}`, title: 'Expiry', buyer: { org_id: 'O', name: 'N' }, status: 'open' },
  });

describe('bulk expiry through HTTP (api + worker, real PostgreSQL and Redis)', () => {
  let api: TestApi;
  let worker: INestApplicationContext;
  let jwt: string;
  const org = uniqueOrg('bulkexp');

  beforeAll(async () => {
    ({ api, worker, jwt } = await startBulkStack(org));
  });
  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  const db = () => api.app.get(DataSource);
  const post = (route: string, body: Json) => postBulk(api, jwt, org, route, body);
  const get = async (jobId: string): Promise<Detail> =>
    (await post('job/get', { job_id: jobId }).expect(200)).body.data as Detail;

  /** An events import with one bad line, run to completed_with_errors by the worker. */
  async function finishedImport(): Promise<Detail> {
    const lines = [event(1), '{"event_type": "rfp.created", "payload": ', event(2), event(3)];
    const created = await post('import/create', { target: 'events', format: 'ndjson' }).expect(200);
    const { job, upload_url } = created.body.data as { job: Job; upload_url: string };
    const upload = await api
      .http()
      .put(upload_url)
      .set('content-type', 'application/x-ndjson')
      .send(`${lines.join('\n')}\n`)
      .expect(200);
    await post('import/commit', {
      job_id: job.job_id,
      expected_revision: (upload.body.data.job as Job).revision,
    }).expect(200);
    return waitFor(
      'the import to finish',
      async () => {
        const detail = await get(job.job_id);
        return detail.job.status === 'completed_with_errors' ? detail : undefined;
      },
      20_000,
    );
  }

  /** An events export (the tenant's events, including those imported above), run to completed by the worker. */
  async function finishedExport(): Promise<Detail> {
    const created = await post('export/create', { target: 'events', format: 'ndjson' }).expect(200);
    const { job } = created.body.data as { job: Job };
    return waitFor(
      'the export to finish',
      async () => {
        const detail = await get(job.job_id);
        return detail.job.status === 'completed' ? detail : undefined;
      },
      20_000,
    );
  }

  it('an expired job has no download_url or report_url, its old URLs are 404 and its upload URL is dead (401)', async () => {
    const imported = await finishedImport();
    const exported = await finishedExport();
    const created = await post('import/create', { target: 'events', format: 'ndjson' }).expect(200);
    const neverUploaded = created.body.data as { job: Job; upload_url: string };
    const cancelled = (
      await post('import/create', { target: 'events', format: 'ndjson' })
        .expect(200)
        .then((res) => post('job/cancel', { job_id: (res.body.data as { job: Job }).job.job_id }).expect(200))
    ).body.data as { job: Job };

    // Before: the files open.
    expect(imported.report_url).toBeDefined();
    expect(exported.download_url).toBeDefined();
    const reportUrl = imported.report_url as string;
    const downloadUrl = exported.download_url as string;
    await api.http().get(reportUrl).expect(200);
    const before = await api.http().get(downloadUrl).expect(200);
    expect(before.text).toContain('EXP-3');

    const ids = [imported.job.job_id, exported.job.job_id, neverUploaded.job.job_id, cancelled.job.job_id];
    await db().query(`UPDATE bulk_jobs SET expires_at = now() - interval '1 minute' WHERE job_id = ANY($1)`, [ids]);
    const run = await worker.get(JobProducer).add('maintenance.bulk_expiry', {});
    await waitFor('the expiry job', async () => ((await run.getState()) === 'completed' ? true : undefined), 15_000);

    for (const id of ids) {
      const detail = await get(id);
      expect(detail.job).toMatchObject({ job_id: id, status: 'expired' });
      expect(detail).not.toHaveProperty('download_url');
      expect(detail).not.toHaveProperty('report_url');
    }
    expect((await get(imported.job.job_id)).job.revision).toBe(String(Number(imported.job.revision) + 1));
    await api.http().get(reportUrl).expect(404);
    await api.http().get(downloadUrl).expect(404);
    await api
      .http()
      .put(neverUploaded.upload_url)
      .set('content-type', 'application/x-ndjson')
      .send(`${event(9)}\n`)
      .expect(401); // its job no longer awaits an upload
    // Nothing is left in storage, and an expired job is final: it cannot continue.
    const [{ parts }] = await db().query<Array<{ parts: number }>>(
      `SELECT count(*)::int AS parts FROM bulk_parts WHERE job_id = ANY($1)`,
      [ids],
    );
    expect(parts).toBe(0);
    await post('import/continue', { job_id: cancelled.job.job_id }).expect(409);
    const listed = await post('job/list', { status: 'expired', limit: 256 }).expect(200);
    expect((listed.body.data.items as Job[]).map((j) => j.job_id).sort()).toEqual([...ids].sort());
    // The events the import stored are not files: they stay.
    const [{ events }] = await db().query<Array<{ events: number }>>(
      `SELECT count(*)::int AS events FROM events WHERE orgcode = $1 AND event_id LIKE 'EXP-%'`,
      [org],
    );
    expect(events).toBe(3);
  });
});
