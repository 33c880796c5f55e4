// The receiver of the delivery and noisy-neighbour benchmarks as a child process (bench/delivery-receiver.ts): it
// listens on its own ports, verifies every signature, and reports what it received per phase over IPC.
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Phase, ReceiverCommand, ReceiverReply, ReceiverStats } from './delivery-receiver';
import { ROOT } from './processes';

export class Receiver {
  private seq = 0;
  private readonly waiting = new Map<number, (stats: ReceiverStats) => void>();
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly ports: number[],
  ) {
    child.on('message', (message: unknown) => {
      const reply = message as ReceiverReply;
      if (reply.kind !== 'stats') return;
      this.waiting.get(reply.id)?.(reply.stats);
      this.waiting.delete(reply.id);
    });
    child.once('exit', () => {
      this.exited = true;
    });
  }

  static async start(ports: number): Promise<Receiver> {
    const child = fork(path.join(ROOT, 'bench/delivery-receiver.ts'), [String(ports)], {
      cwd: ROOT,
      execArgv: ['-r', 'ts-node/register'],
      env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'), TS_NODE_TRANSPILE_ONLY: 'true' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const listening = await new Promise<number[]>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`the receiver exited (${code}) while starting`));
      child.once('exit', onExit);
      child.once('message', (message: unknown) => {
        child.off('exit', onExit);
        const reply = message as ReceiverReply;
        if (reply.kind === 'ready') resolve(reply.ports);
        else reject(new Error(`the receiver did not start: ${reply.kind === 'error' ? reply.message : reply.kind}`));
      });
    });
    return new Receiver(child, listening);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** The URL of endpoint `i`'s `path`: endpoints are spread over the receiver's ports (origins). */
  url(i: number, urlPath: string): string {
    return `http://127.0.0.1:${this.ports[i % this.ports.length]}${urlPath}`;
  }

  addSecrets(secrets: Record<string, string>): void {
    this.send({ kind: 'secrets', secrets });
  }

  stats(latency = false): Promise<ReceiverStats> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error('the receiver exited'));
      this.waiting.set(id, resolve);
      this.send({ kind: 'stats', id, latency });
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ kind: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private send(command: ReceiverCommand): void {
    this.child.send(command);
  }
}

/** Polls the receiver until `phase` has `expected` unique deliveries, or `timeoutMs` passed. */
export async function waitForPhase(
  receiver: Receiver,
  phase: Phase,
  expected: number,
  timeoutMs: number,
  pollMs = 50,
): Promise<ReceiverStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await receiver.stats();
    if (stats.phases[phase].unique >= expected || Date.now() > deadline) return stats;
    await sleep(pollMs);
  }
}
