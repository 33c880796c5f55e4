import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './built-worker';

/** Sends one inline command and resolves with the first reply line (`+PONG`, `+OK`, `-ERR …`), or rejects. */
function redisCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (err: Error | null, line?: string): void => {
      socket.destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`redis :${port}: no reply to ${command}`)));
    socket.once('error', (err) => done(err));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      const end = reply.indexOf('\r\n');
      if (end >= 0) done(null, reply.slice(0, end));
    });
    socket.once('connect', () => socket.write(`${command}\r\n`));
  });
}

/**
 * A Redis server of our own for fault tests (the shared one must never be restarted or flushed):
 * `redis-server` on a free 127.0.0.1 port, append-only file on (as production runs it) in a temporary
 * directory, no RDB snapshots. It can be killed and started again on the same port and directory.
 */
export class RedisServer {
  private child?: ChildProcess;
  private output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'ipm-chaos-redis-')));
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the server (again) and waits until it answers PING. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.running) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes'];
    args.push('--appendfsync', 'everysec', '--dir', this.dir, '--loglevel', 'warning');
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-4000)));
    child.stderr?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-4000)));
    this.child = child;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`redis-server exited at start:\n${this.output}`);
      // While the AOF loads, Redis answers -LOADING: not ready yet.
      const pong = await redisCommand(this.port, 'PING').catch(() => '');
      if (pong === '+PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server :${this.port} not ready in ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Stops the server: SIGTERM (it writes its AOF and exits) or SIGKILL (a crash); waits for the exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }

  async flushAll(): Promise<void> {
    const reply = await redisCommand(this.port, 'FLUSHALL');
    if (reply !== '+OK') throw new Error(`FLUSHALL answered ${reply}`);
  }

  /** Stops the server and deletes its directory. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
