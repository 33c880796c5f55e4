import { DataSource } from 'typeorm';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { AFTER_COMMIT_ENQUEUE_WAIT_MS, JobProducer } from '@ipm/queues';
import { QueueName } from '@ipm/queues';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { insertDelivery } from '../support/deliveries';
import { RedisServer } from '../support/redis-server';

/** A public address as an IP literal: accepted without DNS; nothing is delivered (no worker runs). */
const PUBLIC_URL = 'https://93.184.215.14/hooks/ipm';
/** A request that enqueues after its commit answers within the enqueue's wait and some slack; a hang never. */
const ANSWER_WITHIN_MS = AFTER_COMMIT_ENQUEUE_WAIT_MS + 4000;

type Json = Record<string, unknown>;
const saved = { ...process.env };

/**
 * Routes that commit in PostgreSQL and then enqueue in Redis answer while Redis is down (their row
 * is the truth; the sweeper re-enqueues what no queue holds) instead of hanging until it returns.
 * The api runs against a Redis server of this file's own, which it stops: never the shared one.
 */
describe('api routes while Redis is down', () => {
  let redis: RedisServer;
  let api: TestApi;
  let admin: string;
  const org = uniqueOrg('redis-down');

  beforeAll(async () => {
    redis = await RedisServer.start();
    process.env.REDIS_URL = redis.url;
    api = await startApi();
    admin = await token(api.config, {
      orgs: [org],
      permissions: ['manage_webhooks', 'manage_bulk_jobs'],
    });
  });
  afterAll(async () => {
    await redis?.start().catch(() => undefined); // let the api's connections close cleanly
    await api?.close();
    await redis?.destroy();
    process.env = saved;
  });

  const post = (route: string, body: Json) =>
    api.http().post(`/ipm/${route}`).set(bearer(admin)).set('x-orgcode', org).send(body);
  /** The route's answer and how long it took. */
  const timed = async (route: string, body: Json) => {
    const started = Date.now();
    const res = await post(route, body);
    return { res, ms: Date.now() - started };
  };

  it('replay, delivery retry and bulk export answer with their success; the jobs are queued once Redis is back', async () => {
    const webhookId = (await post('webhook/create', { endpoint_url: PUBLIC_URL }).expect(200)).body.data
      .webhook_id as string;
    const failed = await insertDelivery(api.app.get(DataSource), {
      orgcode: org,
      webhook_id: webhookId,
      status: 'failed',
    });

    await redis.stop('SIGKILL');

    // The api stays ready (it serves without Redis): Redis is reported down, PostgreSQL up.
    const ready = await api.http().get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.data).toMatchObject({
      status: 'ok',
      details: { postgres: { status: 'up' }, redis: { status: 'down', required: false } },
    });

    const replay = await timed('webhook/replay', { webhook_id: webhookId });
    expect(replay.res.status).toBe(200);
    expect(replay.ms).toBeLessThan(ANSWER_WITHIN_MS);
    const replayId = replay.res.body.data.replay.replay_id as string;
    expect(replay.res.body.data.replay.status).toBe('queued');

    const retry = await timed('webhook/delivery/retry', { delivery_id: failed });
    expect(retry.res.status).toBe(200);
    expect(retry.ms).toBeLessThan(ANSWER_WITHIN_MS);
    const deliveryId = retry.res.body.data.delivery.delivery_id as string;
    expect(retry.res.body.data.delivery).toMatchObject({ status: 'pending', retry_of: failed });

    const bulk = await timed('bulk/export/create', { target: 'webhooks', format: 'csv' });
    expect(bulk.res.status).toBe(200);
    expect(bulk.ms).toBeLessThan(ANSWER_WITHIN_MS);
    const bulkJobId = bulk.res.body.data.job.job_id as string;
    expect(bulk.res.body.data.job.status).toBe('queued');

    // Each row is committed, as the sweeper finds it (queued / pending) to re-enqueue it.
    const db = api.app.get(DataSource);
    const [row] = await db.query<Array<{ replay: string; delivery: string; bulk: string }>>(
      `SELECT (SELECT status FROM webhook_replays WHERE replay_id = $1) AS replay,
              (SELECT status FROM deliveries WHERE delivery_id = $2) AS delivery,
              (SELECT status FROM bulk_jobs WHERE job_id = $3) AS bulk`,
      [replayId, deliveryId, bulkJobId],
    );
    expect(row).toEqual({ replay: 'queued', delivery: 'pending', bulk: 'queued' });

    // Redis back (its append-only file kept nothing of these): the commands given up on run now, once each.
    await redis.start();
    const jobs = api.app.get(JobProducer);
    const queued = async () => ({
      replay: await jobs.isQueued('replay.run', replayId),
      delivery: await jobs.isQueued('delivery.send', deliveryId),
      bulk: await jobs.isQueued('bulk.run', bulkJobId),
    });
    const deadline = Date.now() + 15_000;
    let state = await queued();
    while (!(state.replay && state.delivery && state.bulk) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      state = await queued();
    }
    expect(state).toEqual({ replay: true, delivery: true, bulk: true });
    const readyAgain = await api.http().get('/health/ready').expect(200);
    expect(readyAgain.body.data.details).toMatchObject({ postgres: { status: 'up' }, redis: { status: 'up' } });
    expect(readyAgain.body.data.details.redis).not.toHaveProperty('required');
    // an enqueue repeated (by the sweeper, or a late command) adds no second job: the job id is the row's id
    const replayQueue = api.app.get<Queue>(getQueueToken(QueueName.Replay), { strict: false });
    expect(
      await jobs.ensureQueued({ name: 'replay.run', payload: { replay_id: replayId }, opts: { jobId: replayId } }),
    ).toBe(false);
    await jobs.add('replay.run', { replay_id: replayId }, { jobId: replayId });
    const waiting = await replayQueue.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(waiting.filter((j) => j.data && (j.data as { replay_id?: string }).replay_id === replayId)).toHaveLength(1);
  }, 45_000);
});
