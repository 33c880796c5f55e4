import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ALL_QUEUES, QueueName } from '@ipm/queues';
import { bearer, startApi, TestApi, token } from '../support/api';
import { RedisCluster } from '../support/redis-cluster';

interface BoardQueue {
  name: string;
  isPaused: boolean;
  counts: Record<string, number>;
}

/**
 * The dashboard on a Redis Cluster of the test's own (REDIS_CLUSTER_NODES): Bull Board works through the
 * api's own queues, so their hash-tagged prefix ({…}) and cluster connection serve it too.
 */
describe('queue dashboard on a Redis Cluster (3 masters)', () => {
  let cluster: RedisCluster;
  let api: TestApi;
  let operator: string;
  const saved = { nodes: process.env.REDIS_CLUSTER_NODES, prefix: process.env.QUEUE_PREFIX };

  beforeAll(async () => {
    cluster = await RedisCluster.start(3);
    process.env.REDIS_CLUSTER_NODES = cluster.nodes;
    process.env.QUEUE_PREFIX = `${saved.prefix ?? 'ipm-test-local'}-dashboard-cluster`;
    api = await startApi();
    operator = await token(api.config, { sub: 'ops_1', orgs: [], permissions: ['operate_queues'] });
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await cluster?.destroy();
    process.env.REDIS_CLUSTER_NODES = saved.nodes;
    process.env.QUEUE_PREFIX = saved.prefix;
    if (saved.nodes === undefined) delete process.env.REDIS_CLUSTER_NODES;
  });

  it('lists the queues, counts a job, pauses and resumes, and reads the cluster stats', async () => {
    const bulk = api.app.get<Queue>(getQueueToken(QueueName.Bulk), { strict: false });
    expect(bulk.opts.prefix).toMatch(/^\{.*\}$/);
    const job = await bulk.add('dashboard-cluster-probe', { n: 1 }, { delay: 3_600_000 });
    try {
      const res = await api.http().get('/admin/queues/api/queues').set(bearer(operator)).expect(200);
      const queues = (res.body as { queues: BoardQueue[] }).queues;
      expect(queues.map((q) => q.name).sort()).toEqual([...ALL_QUEUES].sort());
      expect(queues.find((q) => q.name === 'bulk')?.counts.delayed).toBe(1);

      await api.http().put('/admin/queues/api/queues/bulk/pause').set(bearer(operator)).expect(200);
      expect(await bulk.isPaused()).toBe(true);
      await api.http().put('/admin/queues/api/queues/bulk/resume').set(bearer(operator)).expect(200);
      expect(await bulk.isPaused()).toBe(false);

      await api.http().get('/admin/queues/api/redis/stats').set(bearer(operator)).expect(200);
      // Every key the board's calls touched is still under the one hash tag (one slot).
      const keys = [...(await cluster.keys('*')).values()].flat().filter((k) => k.includes(':bulk:'));
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.every((k) => k.startsWith(bulk.opts.prefix as string))).toBe(true);
    } finally {
      await job.remove();
    }
  });
});
