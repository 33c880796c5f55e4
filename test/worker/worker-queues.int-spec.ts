import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { IdPrefix, loadConfig, newId } from '@ipm/core';
import { redisOptions } from '@ipm/redis';
import { BUILD_TIMEOUT_MS, ensureWorkerBuilt, exitOf, spawnWorker } from '../support/built-worker';

describe('a worker dedicated to some queues (WORKER_QUEUES, built worker process)', () => {
  const prefix = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:wq`;
  const config = loadConfig(process.env);
  const connection = redisOptions(config.REDIS_URL);
  const delivery = new Queue('delivery', { connection, prefix });
  const retry = new Queue('retry', { connection, prefix });
  let child: ChildProcess | undefined;

  beforeAll(() => ensureWorkerBuilt(), BUILD_TIMEOUT_MS);
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([delivery.close(), retry.close()]);
  });

  it('with WORKER_QUEUES=retry runs retry jobs, leaves delivery jobs waiting, says so, and stops on SIGTERM', async () => {
    // Jobs for deliveries that do not exist: a run claims nothing and completes `skipped`.
    const payload = () => ({ delivery_id: newId(IdPrefix.Delivery), webhook_id: newId(IdPrefix.Webhook) });
    const first = await delivery.add('delivery.send', payload());
    const later = await retry.add('delivery.retry', payload());

    const worker = spawnWorker({
      ...process.env,
      WORKER_QUEUES: 'retry',
      RETRY_CONCURRENCY: '3',
      SHUTDOWN_TIMEOUT_MS: '2000',
      WORKER_PORT: '0',
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
      QUEUE_PREFIX: prefix,
    });
    child = worker.child;
    const exited = exitOf(child);

    const deadline = Date.now() + 20_000;
    let state = await later.getState();
    while (state !== 'completed') {
      if (child.exitCode !== null) throw new Error(`worker exited early (${child.exitCode}):\n${worker.output()}`);
      if (Date.now() > deadline) throw new Error(`retry job still ${state}:\n${worker.output()}`);
      await sleep(50);
      state = await later.getState();
    }
    expect((await retry.getJob(later.id!))?.returnvalue).toMatchObject({ status: 'skipped' });
    // The delivery job was there first and the worker has been consuming since: nobody took it.
    expect(await first.getState()).toBe('waiting');
    // Nothing on the delivery queue ran. (More may wait there: this worker's sweeper re-enqueues due deliveries
    // that earlier test files left in the run's shared database.)
    const counts = await delivery.getJobCounts('waiting', 'active', 'completed');
    expect({ active: counts.active, completed: counts.completed }).toEqual({ active: 0, completed: 0 });
    expect(counts.waiting).toBeGreaterThanOrEqual(1);
    expect(worker.output()).toContain(
      'consuming retry (concurrency 3); not consuming delivery, replay, bulk, maintenance (WORKER_QUEUES)',
    );
    expect(worker.output()).toContain('outbox relay off: this worker does not serve the delivery queue');

    child.kill('SIGTERM');
    const exit = await Promise.race([exited, sleep(15_000, 'still running' as const, { ref: false })]);
    expect({ exit, output: exit === 'still running' || exit.code !== 0 ? worker.output() : '' }).toEqual({
      exit: { code: 0, signal: null },
      output: '',
    });
    expect(worker.output()).toContain('SIGTERM: draining jobs (up to 2000 ms), then exiting');
    expect(await first.getState()).toBe('waiting');
  }, 40_000);

  it('refuses to start on an unknown queue name: exit 1, naming the variable and the known queues', async () => {
    const worker = spawnWorker({ ...process.env, WORKER_QUEUES: 'delivery,outbox', WORKER_PORT: '0' });
    expect(await exitOf(worker.child)).toEqual({ code: 1, signal: null });
    expect(worker.output()).toContain(
      'WORKER_QUEUES must be a comma-separated list of: delivery, retry, replay, bulk, maintenance',
    );
  }, 20_000);
});
