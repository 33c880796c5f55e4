import { getQueueToken } from '@nestjs/bullmq';
import { INestApplicationContext, Injectable } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { Job, Queue } from 'bullmq';
import type IORedis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { AppConfig, IdempotencyRecordEntity } from '@ipm/core';
import { JobHandler, JobProducer, QueueName, QueueWorkers, REDIS_CLIENT } from '@ipm/queues';
import { redisOptions } from '@ipm/redis';
import type { EmptyPayload, JobContext } from '@ipm/queues';
import { createWorkerApp } from '../../apps/worker/src/bootstrap';
import { MaintenanceService } from '../../apps/worker/src/maintenance.service';
import { WorkerHttpServer } from '../../apps/worker/src/worker-http.server';
import { WorkerModule } from '../../apps/worker/src/worker.module';
import { waitFor } from '../support/wait';

// The worker's health/metrics server on a free port; each block below gets its own BullMQ
// prefix (under the run's, so the global teardown still deletes it) and so its own queues.
process.env.WORKER_PORT = '0';
const RUN_PREFIX = process.env.QUEUE_PREFIX ?? 'ipm-test-local';
const usePrefix = (name: string) => {
  process.env.QUEUE_PREFIX = `${RUN_PREFIX}:${name}`;
};

const settled = (job: Job) =>
  waitFor(`job ${job.id} to settle`, async () => {
    const state = await job.getState();
    return state === 'completed' || state === 'failed' ? state : undefined;
  });

/** A queue handle of the test's own, to look at jobs after the app under test has closed its queues. */
function inspectQueue(name: QueueName): Queue {
  return new Queue(name, {
    connection: redisOptions(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
    prefix: process.env.QUEUE_PREFIX,
  });
}

/** Stands in for MaintenanceService: the purge job becomes one that takes a while and can be aborted. */
@Injectable()
class SlowPurge {
  static durationMs = 1500;
  static honoursAbort = true;
  readonly started: Job[] = [];
  finished = 0;
  aborted = 0;

  @JobHandler('maintenance.idempotency_purge')
  async purge(_payload: EmptyPayload, { job, signal }: JobContext<'maintenance.idempotency_purge'>): Promise<string> {
    this.started.push(job);
    try {
      await sleep(SlowPurge.durationMs, undefined, { signal: SlowPurge.honoursAbort ? signal : undefined });
    } catch (err) {
      this.aborted++;
      throw err;
    }
    this.finished++;
    return 'slow purge done';
  }
}

async function startWithSlowPurge(): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({ imports: [WorkerModule] })
    .overrideProvider(MaintenanceService)
    .useClass(SlowPurge)
    .compile();
  await moduleRef.init();
  return moduleRef;
}

describe('worker (real Redis and PostgreSQL)', () => {
  describe('createWorkerApp()', () => {
    let app: INestApplicationContext;
    let base: string;

    beforeAll(async () => {
      usePrefix('app');
      app = await createWorkerApp();
      base = `http://127.0.0.1:${app.get(WorkerHttpServer).port}`;
    });
    afterAll(() => app?.close());

    it('processes a job enqueued through JobProducer: the purge deletes expired idempotency keys', async () => {
      const records = app.get(DataSource).getRepository(IdempotencyRecordEntity);
      const orgcode = `wrk-${Date.now().toString(36)}`;
      const row = { orgcode, call: 'POST /x', request_hash: 'a'.repeat(64), state: 'completed' as const };
      await records.insert([
        { ...row, idempotency_key: 'expired', expires_at: new Date(Date.now() - 60_000) },
        { ...row, idempotency_key: 'live', expires_at: new Date(Date.now() + 3_600_000) },
      ]);

      const job = await app.get(JobProducer).add('maintenance.idempotency_purge', {});
      expect(job.queueName).toBe(QueueName.Maintenance);
      await expect(settled(job)).resolves.toBe('completed');

      const queue = app.get<Queue>(getQueueToken(QueueName.Maintenance), { strict: false });
      const done = await Job.fromId(queue, job.id!);
      expect(done?.returnvalue).toEqual({ purged: expect.any(Number) });
      expect((done?.returnvalue as { purged: number }).purged).toBeGreaterThanOrEqual(1);
      const left = await records.findBy({ orgcode });
      expect(left.map((r) => r.idempotency_key)).toEqual(['live']);
    });

    it('enqueues in bulk on the queue each job belongs to', async () => {
      const jobs = await app.get(JobProducer).addBulk([
        { name: 'maintenance.idempotency_purge', payload: {} },
        { name: 'maintenance.idempotency_purge', payload: {}, opts: { priority: 1 } },
      ]);
      expect(jobs.map((j) => [j.name, j.queueName])).toEqual([
        ['maintenance.idempotency_purge', 'maintenance'],
        ['maintenance.idempotency_purge', 'maintenance'],
      ]);
      await expect(Promise.all(jobs.map(settled))).resolves.toEqual(['completed', 'completed']);
    });

    it('fails a job whose name no handler knows, without retrying it', async () => {
      const queue = app.get<Queue>(getQueueToken(QueueName.Maintenance), { strict: false });
      // Only a stale producer could do this (JobProducer does not compile with an unknown name).
      const job = await queue.add('maintenance.no_such_job', {}, { attempts: 3 });
      await expect(settled(job)).resolves.toBe('failed');
      const failed = await Job.fromId(queue, job.id!);
      expect(failed?.failedReason).toBe(
        'unknown job "maintenance.no_such_job" on queue "maintenance": no such job in JobPayloads',
      );
      expect(failed?.attemptsMade).toBe(1);
    });

    it('schedules the idempotency purge, the delivery retention, the bulk file expiry and the KPI roll-up hourly, in UTC', async () => {
      const queue = app.get<Queue>(getQueueToken(QueueName.Maintenance), { strict: false });
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: 'maintenance.idempotency_purge', pattern: '0 * * * *', tz: 'UTC' }),
          expect.objectContaining({ key: 'maintenance.delivery_retention', pattern: '17 * * * *', tz: 'UTC' }),
          expect.objectContaining({ key: 'maintenance.bulk_expiry', pattern: '37 * * * *', tz: 'UTC' }),
          expect.objectContaining({ key: 'maintenance.kpi_rollup', pattern: '5 * * * *', tz: 'UTC' }),
        ]),
      );
      expect(schedulers).toHaveLength(4);
    });

    it('GET /health/live answers in the envelope', async () => {
      const res = await fetch(`${base}/health/live`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        success: true,
        data: expect.objectContaining({ status: 'ok' }),
        build: { build_id: app.get(AppConfig).BUILD_ID },
        stats: { call: 'GET /health/live', service: 'ipm', timestamp_utc: expect.stringMatching(/Z$/) },
      });
    });

    it('GET /health/ready checks PostgreSQL and Redis', async () => {
      const res = await fetch(`${base}/health/ready`);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({
        success: true,
        data: { status: 'ok', info: { postgres: { status: 'up' }, redis: { status: 'up' } } },
        stats: { call: 'GET /health/ready', service: 'ipm' },
      });
    });

    it('GET /metrics serves Prometheus text: process metrics, queue job counts, processed jobs', async () => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      expect(text).toMatch(/^process_cpu_seconds_total\{app="worker"\} \d/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds\{app="worker"\} /m);
      for (const queue of Object.values(QueueName)) {
        for (const state of ['waiting', 'active', 'delayed', 'failed']) {
          expect(text).toMatch(new RegExp(`^ipm_queue_jobs\\{queue="${queue}",state="${state}"\\} \\d+$`, 'm'));
        }
      }
      // The schedulers' next purge, retention, bulk expiry and KPI roll-up wait in "delayed"; the unknown job above sits in "failed".
      expect(text).toMatch(/^ipm_queue_jobs\{queue="maintenance",state="delayed"\} 4$/m);
      expect(text).toMatch(/^ipm_queue_jobs\{queue="maintenance",state="failed"\} 1$/m);
      const processed = (outcome: string, job: string) =>
        Number(
          new RegExp(
            `^ipm_worker_jobs_processed_total\\{queue="maintenance",job="${job}",outcome="${outcome}"\\} (\\d+)$`,
            'm',
          ).exec(text)?.[1],
        );
      expect(processed('completed', 'maintenance.idempotency_purge')).toBe(3);
      expect(processed('failed', 'maintenance.no_such_job')).toBe(1);
    });

    it('answers unknown paths with a 404 envelope', async () => {
      const res = await fetch(`${base}/nope?x=1`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({
        success: false,
        error: { code: 'not_found', message: 'No route GET /nope' },
        stats: { call: 'GET /nope' },
      });
    });

    // Last: it cuts the health check's Redis connection for good.
    it('GET /health/ready is a 503 envelope naming the dependency that is down', async () => {
      app.get<IORedis>(REDIS_CLIENT).disconnect();
      const res = await fetch(`${base}/health/ready`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        success: false,
        error: {
          code: 'service_unavailable',
          details: [{ checks: { redis: { status: 'down' }, postgres: { status: 'up' } } }],
        },
        stats: { call: 'GET /health/ready' },
      });
    });
  });

  describe('shutdown', () => {
    afterEach(() => {
      SlowPurge.durationMs = 1500;
      SlowPurge.honoursAbort = true;
      delete process.env.SHUTDOWN_TIMEOUT_MS;
    });

    it('stops taking jobs, lets the one in flight finish before close() resolves, and reports not ready meanwhile', async () => {
      usePrefix('drain');
      const moduleRef = await startWithSlowPurge();
      const slow = moduleRef.get<SlowPurge>(MaintenanceService);
      const base = `http://127.0.0.1:${moduleRef.get(WorkerHttpServer).port}`;
      const producer = moduleRef.get(JobProducer);
      const inFlight = await producer.add('maintenance.idempotency_purge', {});
      const queued = await producer.add('maintenance.idempotency_purge', {}); // concurrency 1: waits its turn
      await waitFor('the slow job to start', () => (slow.started.length ? true : undefined));

      const startedClosing = Date.now();
      let closed = false;
      const closing = moduleRef.close().then(() => {
        closed = true;
      });
      const notReady = await waitFor('readiness to drop', async () => {
        const res = await fetch(`${base}/health/ready`).catch(() => undefined);
        return res?.status === 503 ? ((await res.json()) as { error: { message: string } }) : undefined;
      });
      expect(notReady.error.message).toBe('The worker is shutting down');
      expect(closed).toBe(false);
      await closing;

      expect(slow.finished).toBe(1);
      expect(slow.started.map((j) => j.id)).toEqual([inFlight.id]);
      expect(Date.now() - startedClosing).toBeLessThan(SlowPurge.durationMs + 5000);
      const queue = inspectQueue(QueueName.Maintenance);
      try {
        await expect(queue.getJobState(inFlight.id!)).resolves.toBe('completed');
        await expect(queue.getJobState(queued.id!)).resolves.toBe('waiting');
      } finally {
        await queue.close();
      }
      await expect(fetch(`${base}/health/live`)).rejects.toThrow(); // the HTTP server is closed
    });

    it('gives up on a job that outlasts SHUTDOWN_TIMEOUT_MS: signals it to abort and closes anyway', async () => {
      usePrefix('timeout');
      process.env.SHUTDOWN_TIMEOUT_MS = '1000';
      SlowPurge.durationMs = 60_000;
      const moduleRef = await startWithSlowPurge();
      const slow = moduleRef.get<SlowPurge>(MaintenanceService);
      await moduleRef.get(JobProducer).add('maintenance.idempotency_purge', {});
      await waitFor('the slow job to start', () => (slow.started.length ? true : undefined));

      const startedClosing = Date.now();
      await moduleRef.close();
      const took = Date.now() - startedClosing;
      expect(took).toBeGreaterThanOrEqual(950);
      expect(took).toBeLessThan(8000);
      expect(slow.aborted).toBe(1);
      expect(slow.finished).toBe(0);
    });

    it('abandons a job that ignores the abort signal, closing after the grace period', async () => {
      usePrefix('abandon');
      process.env.SHUTDOWN_TIMEOUT_MS = '1000';
      SlowPurge.durationMs = 4000;
      SlowPurge.honoursAbort = false;
      const moduleRef = await startWithSlowPurge();
      const slow = moduleRef.get<SlowPurge>(MaintenanceService);
      const job = await moduleRef.get(JobProducer).add('maintenance.idempotency_purge', {});
      await waitFor('the slow job to start', () => (slow.started.length ? true : undefined));

      const startedClosing = Date.now();
      await moduleRef.close();
      const took = Date.now() - startedClosing;
      expect(took).toBeGreaterThanOrEqual(1000 + QueueWorkers.ABORT_GRACE_MS - 50);
      expect(took).toBeLessThan(SlowPurge.durationMs);
      expect(slow.finished).toBe(0);
      const queue = inspectQueue(QueueName.Maintenance);
      try {
        // Still "active" in Redis: once its lock lapses, the stalled-job check gives it to another worker.
        await expect(queue.getJobState(job.id!)).resolves.toBe('active');
        await waitFor('the abandoned handler to return', () => (slow.finished ? true : undefined));
      } finally {
        await queue.close();
      }
    });
  });
});
