import { setTimeout as sleep } from 'node:timers/promises';
import { MicroBatcher } from './micro-batcher';

describe('MicroBatcher', () => {
  it('flushes items submitted in the same turn together and gives each caller its own result', async () => {
    const calls: number[][] = [];
    const batcher = new MicroBatcher<number, number>(
      (items) => {
        calls.push(items);
        return Promise.resolve(items.map((n) => n * 10));
      },
      { maxBatch: 100, maxConcurrent: 1 },
    );
    const results = await Promise.all([1, 2, 3].map((n) => batcher.submit(n)));
    expect(results).toEqual([10, 20, 30]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('caps a batch at maxBatch and runs at most maxConcurrent flushes; items queued meanwhile form the next batch', async () => {
    let active = 0;
    let maxActive = 0;
    const sizes: number[] = [];
    const batcher = new MicroBatcher<number, number>(
      async (items) => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        sizes.push(items.length);
        await sleep(10);
        active -= 1;
        return items;
      },
      { maxBatch: 4, maxConcurrent: 2 },
    );
    const all = Array.from({ length: 10 }, (_, i) => batcher.submit(i));
    await expect(Promise.all(all)).resolves.toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(maxActive).toBe(2);
    expect(sizes).toEqual([4, 4, 2]);
    expect(batcher.pending).toBe(0);
  });

  it('rejects every item of a failed flush and keeps working for later items', async () => {
    let fail = true;
    const batcher = new MicroBatcher<string, string>(
      (items) => (fail ? Promise.reject(new Error('db down')) : Promise.resolve(items)),
      { maxBatch: 10, maxConcurrent: 1 },
    );
    const failed = await Promise.allSettled([batcher.submit('a'), batcher.submit('b')]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await expect(batcher.submit('c')).resolves.toBe('c');
  });

  it('rejects when a flush returns the wrong number of results', async () => {
    const batcher = new MicroBatcher<number, number>(() => Promise.resolve([]), { maxBatch: 10, maxConcurrent: 1 });
    await expect(batcher.submit(1)).rejects.toThrow('batch flush returned 0 results for 1 items');
  });
});
