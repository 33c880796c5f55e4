import { AppConfig, ConfigError } from '@ipm/core';
import { ALL_QUEUES, QueueName } from './queue-names';

/**
 * The queues this worker process consumes (WORKER_QUEUES, comma-separated; default all), in
 * ALL_QUEUES order. The config schema already refuses unknown names; this re-checks against the
 * queue list itself, so the two cannot drift apart silently.
 */
export function servedQueues(config: Pick<AppConfig, 'WORKER_QUEUES'>): readonly QueueName[] {
  const wanted = config.WORKER_QUEUES.split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = wanted.filter((name) => !(ALL_QUEUES as readonly string[]).includes(name));
  if (wanted.length === 0 || unknown.length > 0) {
    throw new ConfigError([
      `WORKER_QUEUES: ${unknown.length ? `unknown queue(s) ${unknown.join(', ')}` : 'no queue'}; known: ${ALL_QUEUES.join(', ')}`,
    ]);
  }
  return ALL_QUEUES.filter((queue) => wanted.includes(queue));
}

/** Whether this worker process consumes `queue`. */
export function servesQueue(config: Pick<AppConfig, 'WORKER_QUEUES'>, queue: QueueName): boolean {
  return servedQueues(config).includes(queue);
}
