import { ConsoleLogger, Logger } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import type { AppConfig } from '@ipm/core';
import { ALL_QUEUES } from './queue-names';
import { QUEUE_PROCESSORS } from './queue.processors';
import { QueueWorkers } from './queue-workers';

/** Just the part of a BullMQ Worker that draining touches. */
function fakeWorker(pause: () => Promise<void>) {
  return {
    pause: jest.fn(pause),
    cancelAllJobs: jest.fn(),
    close: jest.fn(() => Promise.resolve()),
    disconnect: jest.fn(() => Promise.resolve()),
  };
}
type FakeWorker = ReturnType<typeof fakeWorker>;

function queueWorkers(make: () => FakeWorker): { workers: QueueWorkers; fakes: FakeWorker[] } {
  const fakes = ALL_QUEUES.map(() => make());
  const byType = new Map<unknown, { worker: FakeWorker }>(
    ALL_QUEUES.map((queue, i) => [QUEUE_PROCESSORS[queue], { worker: fakes[i] }]),
  );
  const moduleRef = { get: (type: unknown) => byType.get(type) } as unknown as ModuleRef;
  return {
    workers: new QueueWorkers(moduleRef, {
      SHUTDOWN_TIMEOUT_MS: 1000,
      WORKER_QUEUES: ALL_QUEUES.join(','),
    } as AppConfig),
    fakes,
  };
}

describe('QueueWorkers.drain', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger(new ConsoleLogger());
  });
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('closes every worker gently once its active jobs are done', async () => {
    const { workers, fakes } = queueWorkers(() => fakeWorker(() => Promise.resolve()));
    await workers.drain(1000);
    for (const fake of fakes) {
      expect(fake.pause).toHaveBeenCalledWith();
      expect(fake.cancelAllJobs).not.toHaveBeenCalled();
      expect(fake.close).toHaveBeenCalledWith(false);
    }
  });

  it('after the timeout, aborts the jobs and closes gently when they unwind within the grace period', async () => {
    const { workers, fakes } = queueWorkers(() => {
      let unwind = (): void => undefined;
      const fake = fakeWorker(() => new Promise<void>((resolve) => (unwind = resolve)));
      fake.cancelAllJobs.mockImplementation(() => unwind());
      return fake;
    });
    const draining = workers.drain(1000);
    await jest.advanceTimersByTimeAsync(999);
    expect(fakes[0].cancelAllJobs).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    await draining;
    for (const fake of fakes) {
      expect(fake.cancelAllJobs).toHaveBeenCalledWith('worker shutting down');
      expect(fake.close).toHaveBeenCalledWith(false);
    }
  });

  it('force-closes when the jobs ignore the abort, and disconnects again once they end', async () => {
    const ends: (() => void)[] = [];
    const { workers, fakes } = queueWorkers(() => fakeWorker(() => new Promise<void>((resolve) => ends.push(resolve))));
    const draining = workers.drain(1000);
    await jest.advanceTimersByTimeAsync(1000 + QueueWorkers.ABORT_GRACE_MS);
    await draining;
    for (const fake of fakes) {
      expect(fake.cancelAllJobs).toHaveBeenCalled();
      expect(fake.close).toHaveBeenCalledWith(true);
      expect(fake.disconnect).not.toHaveBeenCalled();
    }
    ends.forEach((end) => end());
    await jest.advanceTimersByTimeAsync(0);
    for (const fake of fakes) expect(fake.disconnect).toHaveBeenCalled();
  });

  it('force-closes at once when pausing fails', async () => {
    const { workers, fakes } = queueWorkers(() => fakeWorker(() => Promise.reject(new Error('Connection is closed.'))));
    await workers.drain(1000);
    for (const fake of fakes) {
      expect(fake.cancelAllJobs).not.toHaveBeenCalled();
      expect(fake.close).toHaveBeenCalledWith(true);
    }
  });
});
