import { bullPrefix, clusterNodes, reconnectDelay, REDIS_RECONNECT_MAX_MS, redisOptions } from './redis';

describe('redisOptions', () => {
  it('reads host, port, credentials, database and TLS from the URL', () => {
    expect(redisOptions('rediss://u%40x:p%3Aw@cache.internal:6380/3')).toMatchObject({
      host: 'cache.internal',
      port: 6380,
      username: 'u@x',
      password: 'p:w',
      db: 3,
      tls: {},
      maxRetriesPerRequest: null,
    });
    expect(redisOptions('redis://127.0.0.1')).toMatchObject({ port: 6379, db: 0, tls: undefined });
  });

  it('reconnects soon after Redis comes back: at most REDIS_RECONNECT_MAX_MS between attempts', () => {
    const delays = Array.from({ length: 50 }, (_, i) => reconnectDelay(i + 1));
    expect(delays[0]).toBe(200);
    expect(Math.max(...delays)).toBe(REDIS_RECONNECT_MAX_MS);
    expect(delays.every((d, i) => i === 0 || d >= delays[i - 1])).toBe(true);
    expect(redisOptions('redis://127.0.0.1').retryStrategy).toBe(reconnectDelay);
  });
});

describe('Redis Cluster settings', () => {
  const target = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '', QUEUE_PREFIX: 'ipm' };

  it('reads the seed nodes of REDIS_CLUSTER_NODES, and none when it is empty', () => {
    expect(clusterNodes('10.0.0.1:7000, redis-b:7001')).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
    ]);
    expect(clusterNodes('')).toEqual([]);
    expect(() => clusterNodes('redis-b')).toThrow('REDIS_CLUSTER_NODES');
    expect(() => clusterNodes('redis-b:70000')).toThrow('REDIS_CLUSTER_NODES');
  });

  it('hash-tags the BullMQ prefix on a cluster only (one slot for every queue key)', () => {
    expect(bullPrefix(target)).toBe('ipm');
    expect(bullPrefix({ ...target, REDIS_CLUSTER_NODES: 'a:7000' })).toBe('{ipm}');
    expect(bullPrefix({ ...target, REDIS_CLUSTER_NODES: 'a:7000', QUEUE_PREFIX: '{x}:y' })).toBe('{x}:y');
  });
});
