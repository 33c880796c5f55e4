import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUILD_TIMEOUT_MS, ensureBuilt as ensureAppsBuilt, freePort } from './built-worker';

export { BUILD_TIMEOUT_MS, freePort };

const ROOT = join(__dirname, '../..');
const MAINS = { api: join(ROOT, 'dist/apps/api/main.js'), worker: join(ROOT, 'dist/apps/worker/main.js') };
export type AppName = keyof typeof MAINS;

/** Builds an app unless its bundle exists and is newer than its sources (and libs/). */
export function ensureBuilt(app: AppName): void {
  ensureAppsBuilt([app]);
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
