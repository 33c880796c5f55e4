import type { Queue } from 'bullmq';
import { snapshotQueue } from './worker-metrics';

type QueueReads = Pick<Queue, 'getJobCounts' | 'getJobs'>;

describe('snapshotQueue', () => {
  it('reads the counts and the timestamp of the head of the wait list (oldest first)', async () => {
    const getJobs = jest.fn().mockResolvedValue([{ timestamp: 1_000 }]);
    const queue = {
      getJobCounts: jest.fn().mockResolvedValue({ waiting: 4, active: 1, delayed: 2, failed: 0 }),
      getJobs,
    } as unknown as QueueReads;
    await expect(snapshotQueue(queue)).resolves.toEqual({
      counts: { waiting: 4, active: 1, delayed: 2, failed: 0 },
      oldestWaitingAt: 1_000,
    });
    expect(getJobs).toHaveBeenCalledWith(['waiting'], 0, 0, true);
  });

  it('has no oldest job when none waits', async () => {
    const queue = {
      getJobCounts: jest.fn().mockResolvedValue({ waiting: 0 }),
      getJobs: jest.fn().mockResolvedValue([]),
    } as unknown as QueueReads;
    await expect(snapshotQueue(queue)).resolves.toMatchObject({ oldestWaitingAt: null });
  });
});
