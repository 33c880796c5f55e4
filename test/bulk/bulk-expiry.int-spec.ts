import { getQueueToken } from '@nestjs/bullmq';
import type { TestingModule } from '@nestjs/testing';
import type { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { IdPrefix, newId } from '@ipm/core';
import { QueueName } from '@ipm/queues';
import type { BulkJobStatus } from '@ipm/lifecycle';
import { BulkMaintenanceModule } from '@ipm/bulk';
import { BulkJobEntity } from '@ipm/bulk';
import { BulkObjectKind, PgBulkStorage } from '@ipm/bulk';
import { BULK_EXPIRY_BATCH, BulkExpiry, EXPIRABLE_STATES } from '@ipm/bulk';
import { uniqueOrg } from '../support/api';
import { compileBulkModule } from '../support/bulk';

// `maintenance.bulk_expiry` against the real PostgreSQL: the handler is called directly (the HTTP
// view of an expired job is in bulk-expiry.e2e-spec.ts). Other spec files share the database, so
// every assertion looks at this file's own jobs only.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:bulkexpiry`;

const HOUR = 3_600_000;
const KINDS: readonly BulkObjectKind[] = ['upload', 'export', 'report'];
const ENDED: readonly BulkJobStatus[] = ['completed', 'completed_with_errors', 'failed', 'cancelled'];

describe('bulk file expiry (maintenance.bulk_expiry)', () => {
  let moduleRef: TestingModule;
  let ds: DataSource;
  let storage: PgBulkStorage;
  let expiry: BulkExpiry;

  beforeAll(async () => {
    // Small parts, so that each object is several rows.
    ({ moduleRef, ds, storage } = await compileBulkModule({ module: BulkMaintenanceModule, partSize: 16 }));
    expiry = moduleRef.get(BulkExpiry);
  });

  afterAll(async () => {
    await moduleRef?.close();
  });

  /** A job in `status` expiring `expiresInMs` from now, with an upload, an export and a report of 3 parts each. */
  async function createJob(
    orgcode: string,
    status: BulkJobStatus,
    expiresInMs: number,
    files = true,
  ): Promise<BulkJobEntity> {
    const now = new Date();
    const job: BulkJobEntity = {
      job_id: newId(IdPrefix.Job),
      orgcode,
      app_id: null,
      job_type: 'import',
      target: 'events',
      format: 'ndjson',
      options: {},
      status,
      total_lines: null,
      processed: 0,
      succeeded: 0,
      failed: 0,
      last_processed_line: 0,
      cursor: null,
      upload_bytes: '40',
      upload_token_id: status === 'awaiting_upload' ? `upl_${newId(IdPrefix.Job).slice(4)}` : null,
      error: null,
      started_at: null,
      finished_at: null,
      expires_at: new Date(now.getTime() + expiresInMs),
      created_at: now,
      created_by: 'user_expiry',
      updated_at: now,
      updated_by: 'user_expiry',
      revision: 3,
    };
    await ds.getRepository(BulkJobEntity).insert(job);
    if (files) {
      for (const kind of KINDS) {
        const writer = storage.createWriter({ orgcode, jobId: job.job_id, kind });
        await writer.write(Buffer.from(`${kind} of ${job.job_id}`.padEnd(40, '.')));
        await writer.finish();
      }
    }
    return job;
  }

  const load = (job: BulkJobEntity) => ds.getRepository(BulkJobEntity).findOneByOrFail({ job_id: job.job_id });
  const parts = async (job: BulkJobEntity): Promise<Record<BulkObjectKind, number>> => {
    const sizes = await Promise.all(
      KINDS.map((kind) => storage.size({ orgcode: job.orgcode, jobId: job.job_id, kind })),
    );
    return { upload: sizes[0].parts, export: sizes[1].parts, report: sizes[2].parts };
  };
  const NO_PARTS = { upload: 0, export: 0, report: 0 };
  const ALL_PARTS = { upload: 3, export: 3, report: 3 };

  it('expires from exactly the states the lifecycle machine allows: awaiting_upload and the ended ones', () => {
    expect([...EXPIRABLE_STATES].sort()).toEqual(['awaiting_upload', ...ENDED].sort());
  });

  it('declares its hourly schedule on the maintenance queue at start', async () => {
    const queue = moduleRef.get<Queue>(getQueueToken(QueueName.Maintenance), { strict: false });
    expect(await queue.getJobSchedulers()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'maintenance.bulk_expiry', name: 'maintenance.bulk_expiry', tz: 'UTC' }),
      ]),
    );
  });

  it('deletes the files of due jobs and moves them to expired; leaves queued, running and future jobs alone', async () => {
    const org = uniqueOrg('expiry');
    const otherOrg = uniqueOrg('expiry2');
    const due = await Promise.all(['awaiting_upload' as const, ...ENDED].map((s) => createJob(org, s, -HOUR)));
    const busy = await Promise.all((['queued', 'running'] as const).map((s) => createJob(org, s, -HOUR)));
    const future = await Promise.all(['awaiting_upload' as const, ...ENDED].map((s) => createJob(org, s, HOUR)));
    const foreign = await createJob(otherOrg, 'completed', HOUR);
    for (const job of due) expect(await parts(job)).toEqual(ALL_PARTS);

    const result = await expiry.expire();
    // Other spec files never make past-due jobs, but a parallel run of this handler could take some of ours.
    expect(result.jobs).toBeLessThanOrEqual(due.length);

    for (const job of due) {
      const after = await load(job);
      expect({ from: job.status, ...after }).toMatchObject({
        from: job.status,
        status: 'expired',
        revision: job.revision + 1,
        updated_by: 'ipm-bulk-worker',
        upload_token_id: null,
        // What the job said stays as it was.
        created_by: 'user_expiry',
        upload_bytes: '40',
      });
      expect(after.updated_at.getTime()).toBeGreaterThan(job.updated_at.getTime() - 1);
      expect(await parts(job)).toEqual(NO_PARTS);
    }
    for (const job of [...busy, ...future, foreign]) {
      const after = await load(job);
      expect({ job: job.job_id, status: after.status, revision: after.revision }).toEqual({
        job: job.job_id,
        status: job.status,
        revision: job.revision,
      });
      expect(after.upload_token_id).toBe(job.upload_token_id);
      expect(await parts(job)).toEqual(ALL_PARTS);
    }
  });

  it('is idempotent: a second run changes nothing, and an expired job is never expired again', async () => {
    const org = uniqueOrg('expiry');
    const jobs = await Promise.all(ENDED.map((s) => createJob(org, s, -HOUR)));
    await expiry.expire();
    const once = await Promise.all(jobs.map(load));
    expect(once.map((j) => j.status)).toEqual(ENDED.map(() => 'expired'));

    await expect(expiry.expire()).resolves.toEqual({ jobs: expect.any(Number), parts: expect.any(Number) });
    const twice = await Promise.all(jobs.map(load));
    expect(twice.map((j) => [j.status, j.revision, j.updated_at.getTime()])).toEqual(
      once.map((j) => [j.status, j.revision, j.updated_at.getTime()]),
    );
    for (const job of jobs) expect(await parts(job)).toEqual(NO_PARTS);
  });

  it('expires a job whose files were already gone (a crash after the delete, before the commit)', async () => {
    const org = uniqueOrg('expiry');
    const job = await createJob(org, 'failed', -HOUR, false);
    await expiry.expire();
    expect(await load(job)).toMatchObject({ status: 'expired', revision: job.revision + 1 });
  });

  it('two workers at once share the work in batches: every due job expired exactly once', async () => {
    const org = uniqueOrg('expiry');
    const count = BULK_EXPIRY_BATCH * 2 + 37;
    const ids: string[] = [];
    // Plain rows (no files) inserted in one statement: this test is about the locking, not the storage.
    const now = Date.now();
    const rows = Array.from({ length: count }, (_, i) => {
      const job_id = newId(IdPrefix.Job);
      ids.push(job_id);
      return {
        job_id,
        orgcode: org,
        app_id: null,
        job_type: 'import' as const,
        target: 'events' as const,
        format: 'ndjson' as const,
        options: {},
        status: ENDED[i % ENDED.length],
        total_lines: null,
        cursor: null,
        upload_token_id: null,
        error: null,
        started_at: null,
        finished_at: null,
        expires_at: new Date(now - HOUR - i * 1000),
        created_at: new Date(now),
        created_by: 'user_expiry',
        updated_at: new Date(now),
        updated_by: 'user_expiry',
        revision: 5,
      };
    });
    await ds.getRepository(BulkJobEntity).insert(rows);

    const [a, b] = await Promise.all([expiry.expire(), expiry.expire()]);
    expect(a.jobs + b.jobs).toBeLessThanOrEqual(count); // never counted twice
    const after = await ds.query<Array<{ status: string; revision: number; n: number }>>(
      `SELECT status, revision, count(*)::int AS n FROM bulk_jobs WHERE orgcode = $1 GROUP BY status, revision`,
      [org],
    );
    expect(after).toEqual([{ status: 'expired', revision: 6, n: count }]);
  });
});
