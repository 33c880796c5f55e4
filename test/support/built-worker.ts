import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../bench/processes';

/** A TCP port nobody listens on right now (the benchmarks' helper). */
export { freePort };

export const ROOT = join(__dirname, '../..');
export const WORKER_MAIN = join(ROOT, 'dist/apps/worker/main.js');
export const BUILD_TIMEOUT_MS = 240_000;

/** Newest modification time of the TypeScript sources the worker bundle is built from. */
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

/** Builds those of `apps` whose dist/apps/<app>/main.js is missing or older than their sources, in one build. */
export function ensureBuilt(apps: ReadonlyArray<'api' | 'worker' | 'cli'>): void {
  const libs = newestSource(join(ROOT, 'libs'));
  const stale = apps.filter((app) => {
    const main = join(ROOT, 'dist/apps', app, 'main.js');
    return !existsSync(main) || statSync(main).mtimeMs < Math.max(libs, newestSource(join(ROOT, 'apps', app, 'src')));
  });
  if (stale.length === 0) return;
  execFileSync(join(ROOT, 'node_modules/.bin/nest'), ['build', ...stale], {
    cwd: ROOT,
    stdio: 'pipe',
    timeout: BUILD_TIMEOUT_MS,
  });
  // webpack leaves a bundle whose content did not change untouched: mark it fresh, or every run rebuilds it.
  const now = new Date();
  for (const app of stale) utimesSync(join(ROOT, 'dist/apps', app, 'main.js'), now, now);
}

/** Builds the worker unless dist/apps/worker/main.js exists and is newer than its sources. */
export function ensureWorkerBuilt(): void {
  ensureBuilt(['worker']);
}

/** The built worker as a child process, its output collected. */
export function spawnWorker(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [WORKER_MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The child's exit (at once if it has already exited). */
export const exitOf = (child: ChildProcess): Promise<Exit> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
