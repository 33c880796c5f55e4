import { Logger } from '@nestjs/common';
import { enqueueAfterCommit } from './job-producer';

describe('enqueueAfterCommit', () => {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message) } as unknown as Logger;
  beforeEach(() => warnings.splice(0));

  it('resolves true once the enqueue is done, without a warning', async () => {
    await expect(enqueueAfterCommit('job x', () => Promise.resolve({ id: 'x' }), { logger })).resolves.toBe(true);
    expect(warnings).toEqual([]);
  });

  it('gives up waiting after waitMs: false and a warning; a late failure is only logged', async () => {
    let fail: (err: Error) => void = () => undefined;
    const hanging = new Promise<never>((_, reject) => (fail = reject));
    await expect(enqueueAfterCommit('job y', () => hanging, { waitMs: 20, logger })).resolves.toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/^job y: Redis did not take it within 20 ms/)]);
    fail(new Error('Connection is closed.'));
    await new Promise((r) => setImmediate(r));
    expect(warnings[1]).toBe('job y: not enqueued: Connection is closed.');
  });

  it('an error is no failure of the request: false and a warning', async () => {
    const failing = () => Promise.reject(new Error('READONLY'));
    await expect(enqueueAfterCommit('job z', failing, { logger })).resolves.toBe(false);
    expect(warnings).toEqual(['job z: not enqueued (the sweeper re-enqueues it): READONLY']);
  });
});
