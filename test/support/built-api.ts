import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, ROOT } from './built-worker';

export const API_MAIN = join(ROOT, 'dist/apps/api/main.js');

/** The built api (dist/apps/api/main.js) as a child process on a free 127.0.0.1 port, its output collected. */
export class BuiltApi {
  private log = '';

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    const keep = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString()).slice(-2_000_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  /** Spawns the api with `env` (API_PORT and API_HOST are set here) and waits until /health/ready answers 200. */
  static async start(env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<BuiltApi> {
    const port = await freePort();
    const child = spawn(process.execPath, [API_MAIN], {
      cwd: ROOT,
      env: { ...env, API_PORT: String(port), API_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const api = new BuiltApi(child, port);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!api.running) throw new Error(`the api exited at start (${String(child.exitCode)}):\n${api.output()}`);
      const status = await fetch(`${api.url}/health/ready`).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200) return api;
      if (Date.now() > deadline) {
        await api.kill();
        throw new Error(`the api was not ready in ${timeoutMs} ms:\n${api.output()}`);
      }
      await sleep(100);
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.log;
  }

  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited(): Promise<number | null> {
    if (!this.running) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** SIGTERM (graceful: in-flight requests finish) and the exit code. */
  async terminate(): Promise<number | null> {
    const exit = this.exited();
    if (this.running) this.child.kill('SIGTERM');
    return exit;
  }

  async kill(): Promise<void> {
    const exit = this.exited();
    if (this.running) this.child.kill('SIGKILL');
    await exit;
  }
}
