import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

/** Builds the worker unless dist/apps/worker/main.js exists and is newer than its sources. */
export function ensureWorkerBuilt(): void {
  const sources = Math.max(newestSource(join(ROOT, 'apps/worker/src')), newestSource(join(ROOT, 'libs')));
  if (existsSync(WORKER_MAIN) && statSync(WORKER_MAIN).mtimeMs >= sources) return;
  execFileSync('npx', ['nest', 'build', 'worker'], { cwd: ROOT, stdio: 'pipe', timeout: BUILD_TIMEOUT_MS });
}

/** The built worker as a child process, its output collected. */
export function spawnWorker(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [WORKER_MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}
