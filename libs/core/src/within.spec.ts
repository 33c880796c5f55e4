import { setTimeout as sleep } from 'node:timers/promises';
import { TimeoutError, within } from './within';

describe('within', () => {
  it('resolves or rejects as the work does, when it settles in time', async () => {
    await expect(within(1000, Promise.resolve(7))).resolves.toBe(7);
    await expect(within(1000, Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('gives up on work that never answers (Redis or PostgreSQL down)', async () => {
    await expect(within(20, new Promise<never>(() => undefined))).rejects.toThrow('no answer within 20 ms');
  });

  it('rejects with a TimeoutError once the time is up; the work goes on', async () => {
    const slow = sleep(200, 'late');
    const err: unknown = await within(20, slow).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).message).toBe('no answer within 20 ms');
    await expect(slow).resolves.toBe('late');
  });
});
