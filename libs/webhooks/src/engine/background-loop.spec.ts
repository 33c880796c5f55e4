import { setTimeout as sleep } from 'node:timers/promises';
import { BackgroundLoop } from './background-loop';

describe('BackgroundLoop', () => {
  it('runs rounds back to back while they return 0, pauses as asked, and a wake cuts the pause short', async () => {
    let rounds = 0;
    const loop = new BackgroundLoop(() => Promise.resolve(++rounds < 3 ? 0 : 60_000));
    loop.start();
    await sleep(20);
    expect(rounds).toBe(3); // two without a pause, then the third asked for a minute
    loop.wake();
    await sleep(20);
    expect(rounds).toBe(4);
    await loop.stop();
    expect(loop.active).toBe(false);
  });

  it('stop() waits for the round in progress and runs no other', async () => {
    let finished = 0;
    const loop = new BackgroundLoop(async () => {
      await sleep(30);
      finished += 1;
      return 0;
    });
    loop.start();
    await sleep(10);
    await loop.stop();
    expect(finished).toBe(1);
    await sleep(50);
    expect(finished).toBe(1);
  });
});
