import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = join(__dirname, '../..');
export const BUILD_TIMEOUT_MS = 240_000;
const MAINS = { api: join(ROOT, 'dist/apps/api/main.js'), worker: join(ROOT, 'dist/apps/worker/main.js') };
export type AppName = keyof typeof MAINS;

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !/\.(spec|e2e-spec|int-spec)\.ts$/.test(entry.name)) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

/** Builds an app unless its bundle exists and is newer than its sources (and libs/). */
export function ensureBuilt(app: AppName): void {
  const sources = Math.max(newestSource(join(ROOT, 'apps', app, 'src')), newestSource(join(ROOT, 'libs')));
  if (existsSync(MAINS[app]) && statSync(MAINS[app]).mtimeMs >= sources) return;
  execFileSync('npx', ['nest', 'build', app], { cwd: ROOT, stdio: 'pipe', timeout: BUILD_TIMEOUT_MS });
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A built app as a child process, everything it writes to stdout and stderr kept. */
export interface BuiltApp {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Spawns `dist/apps/<app>/main.js` and waits until its "listening" log line; the port it listens on. */
export async function startBuilt(
  app: AppName,
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<BuiltApp & { port: number }> {
  let output = '';
  const child = spawn(process.execPath, [MAINS[app]], {
    cwd: ROOT,
    env: { ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(10_000, false, { ref: false })]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const pattern = new RegExp(`${app} listening on http://[\\d.]+:(\\d+)`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const port = Number(pattern.exec(output)?.[1]);
    if (port) return { child, output: () => output, stop, port };
    if (child.exitCode !== null) throw new Error(`${app} exited early (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${app} did not start listening within ${timeoutMs} ms:\n${output}`);
    }
    await sleep(50);
  }
}
