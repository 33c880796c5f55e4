import { ConfigError, loadConfig } from '@ipm/core';
import { configureQueueWorkers } from './queue.processors';
import { ALL_QUEUES, QueueName } from './queue-names';
import { servedQueues, servesQueue } from './worker-queues';

function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error(`expected loadConfig to refuse ${JSON.stringify(env)}`);
}

describe('WORKER_QUEUES', () => {
  it('serves every queue by default', () => {
    expect(servedQueues(loadConfig({}))).toEqual(ALL_QUEUES);
  });

  it('serves the listed queues only, in queue order, spaces and repeats tolerated', () => {
    const config = loadConfig({ WORKER_QUEUES: ' retry , delivery,retry' });
    expect(servedQueues(config)).toEqual([QueueName.Delivery, QueueName.Retry]);
    expect(servesQueue(config, QueueName.Delivery)).toBe(true);
    expect(servesQueue(config, QueueName.Bulk)).toBe(false);
  });

  it('accepts each queue alone (the schema and the queue list agree)', () => {
    for (const queue of ALL_QUEUES) {
      expect(servedQueues(loadConfig({ WORKER_QUEUES: queue }))).toEqual([queue]);
    }
  });

  it.each(['deliveries', 'delivery,', 'delivery,,retry', 'delivery;retry', ',', 'DELIVERY'])(
    'refuses to start on %j, naming the variable and the known queues',
    (value) => {
      const message = refusal({ WORKER_QUEUES: value });
      expect(message).toContain(
        'WORKER_QUEUES must be a comma-separated list of: delivery, retry, replay, bulk, maintenance',
      );
    },
  );

  it('re-checks names against the queue list even past the schema', () => {
    expect(() => servedQueues({ WORKER_QUEUES: 'delivery,outbox' })).toThrow(
      /WORKER_QUEUES: unknown queue\(s\) outbox; known: delivery, retry, replay, bulk, maintenance/,
    );
    expect(() => servedQueues({ WORKER_QUEUES: '' })).toThrow(/WORKER_QUEUES: no queue/);
  });
});

describe('per-queue concurrency', () => {
  it('takes each queue concurrency from its variable', () => {
    const options = configureQueueWorkers(
      loadConfig({
        DELIVERY_CONCURRENCY: '40',
        DELIVERY_FETCHERS: '4',
        RETRY_CONCURRENCY: '7',
        REPLAY_CONCURRENCY: '3',
        BULK_CONCURRENCY: '5',
        MAINTENANCE_CONCURRENCY: '2',
      }),
    );
    expect(Object.fromEntries(ALL_QUEUES.map((q) => [q, options[q].concurrency]))).toEqual({
      delivery: 10,
      retry: 7,
      replay: 3,
      bulk: 5,
      maintenance: 2,
    });
  });

  it.each(['REPLAY_CONCURRENCY', 'BULK_CONCURRENCY', 'MAINTENANCE_CONCURRENCY'])('refuses %s=0', (name) => {
    expect(refusal({ [name]: '0' })).toContain(name);
  });
});
