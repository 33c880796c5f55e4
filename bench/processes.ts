import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '@ipm/core';

export const ROOT = path.resolve(__dirname, '..');
export const API_MAIN = path.join(ROOT, 'dist/apps/api/main.js');
export const CLI_MAIN = path.join(ROOT, 'dist/apps/cli/main.js');
export const WORKER_MAIN = path.join(ROOT, 'dist/apps/worker/main.js');
/** Node flags the worker runs with in production (scripts/start.js, `npm run start:worker`, docker-compose.yml). */
export const WORKER_NODE_ARGS = ['--max-old-space-size=256', '--max-semi-space-size=16'];

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs the built CLI to completion; returns its stdout (a failure throws with its stderr). */
export function runCli(args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [CLI_MAIN, ...args], { cwd: ROOT, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cli ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

/** A server process started for the benchmarks, its output kept in a log file. */
export class Server {
  private exited = false;

  private constructor(
    readonly label: string,
    readonly child: ChildProcess,
    readonly baseUrl: string,
    readonly logFile: string,
  ) {
    child.once('exit', () => {
      this.exited = true;
    });
  }

  /**
   * Starts `node <args>` and waits until `GET <readyPath>` answers 200. `onSpawn` gets the child at once,
   * before it is ready (e.g. to sample its memory from the start).
   */
  static async start(
    label: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    port: number,
    readyPath: string,
    onSpawn?: (child: ChildProcess) => void,
  ): Promise<Server> {
    const logFile = path.join(tmpdir(), `ipm-bench-${label}.log`);
    const log = createWriteStream(logFile);
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    onSpawn?.(child);
    const server = new Server(label, child, `http://127.0.0.1:${port}`, logFile);
    await server.waitReady(readyPath);
    return server;
  }

  private async waitReady(readyPath: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.label} exited during start-up:\n${this.logTail()}`);
      try {
        const res = await fetch(this.baseUrl + readyPath);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    await this.stop();
    throw new Error(`${this.label} did not answer ${readyPath} within ${timeoutMs / 1000} s:\n${this.logTail()}`);
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after 15 s. */
  async stop(): Promise<void> {
    if (this.exited || this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * The api's environment for one benchmark: its own database and queue prefix, a free port, and quiet logs
 * unless BENCH_LOG_LEVEL says otherwise (`log` measures the api with its production request log on).
 */
export function benchEnv(database: string, queuePrefix: string, port: number): NodeJS.ProcessEnv {
  const url = new URL(loadConfig(process.env).DATABASE_URL);
  url.pathname = `/${database}`;
  return {
    ...process.env,
    DATABASE_URL: url.toString(),
    QUEUE_PREFIX: queuePrefix,
    API_PORT: String(port),
    API_HOST: '127.0.0.1',
    BUILD_ID: 'bench',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    // Benchmarks load one tenant far past its limits: the limiter still runs (its cost is measured), never refuses.
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_TENANT_PER_SECOND: '1000000',
    RATE_LIMIT_PUBLISH_PER_SECOND: '1000000',
    RATE_LIMIT_PUBLISH_TENANT_PER_SECOND: '1000000',
  };
}

/**
 * The reference every "share of the bare route" figure is measured against: bench/baseline-app.ts (a NestJS 12
 * route on the same adapter, no guard, no envelope) as a child process on a free port, serving `/stat`.
 */
export async function startBareRoute(name: string): Promise<Server> {
  const port = await freePort();
  return Server.start(
    name,
    ['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', 'bench/baseline-app.ts', String(port)],
    { ...process.env, TS_NODE_PROJECT: `${ROOT}/tsconfig.json`, TS_NODE_TRANSPILE_ONLY: 'true' },
    port,
    '/stat',
  );
}
