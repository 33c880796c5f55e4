import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Work a worker process does beside its queues (the outbox relay, the sweeper): `round()` runs again
 * and again, each time returning how long to pause before the next; `wake()` cuts a pause short;
 * `stop()` ends the loop after the current round and waits for it.
 */
export class BackgroundLoop {
  private running = false;
  private loop?: Promise<void>;
  private pause?: AbortController;

  constructor(private readonly round: () => Promise<number>) {}

  get active(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  wake(): void {
    this.pause?.abort();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const ms = await this.round();
      if (ms > 0 && this.running) {
        this.pause = new AbortController();
        await sleep(ms, undefined, { signal: this.pause.signal }).catch(() => undefined);
      }
    }
  }
}
