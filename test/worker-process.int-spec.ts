import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist/apps/worker/main.js');
const BUILD_TIMEOUT_MS = 240_000;

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
function ensureBuilt(): void {
  const sources = Math.max(newestSource(join(ROOT, 'apps/worker/src')), newestSource(join(ROOT, 'libs')));
  if (existsSync(MAIN) && statSync(MAIN).mtimeMs >= sources) return;
  execFileSync('npx', ['nest', 'build', 'worker'], { cwd: ROOT, stdio: 'pipe', timeout: BUILD_TIMEOUT_MS });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

describe('the built worker process (node dist/apps/worker/main.js)', () => {
  let child: ChildProcess | undefined;
  let output = '';
  let exited: Promise<Exit>;

  beforeAll(() => ensureBuilt(), BUILD_TIMEOUT_MS);

  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('becomes ready on its port, and on SIGTERM drains, closes and exits 0', async () => {
    child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        WORKER_PORT: '0',
        LOG_LEVEL: 'log', // the port is read from the "listening" log line
        NO_COLOR: '1',
        QUEUE_PREFIX: `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:process`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise((resolve) => child!.once('exit', (code, signal) => resolve({ code, signal })));

    let port: number | undefined;
    const deadline = Date.now() + 20_000;
    while (!port) {
      if (child.exitCode !== null) throw new Error(`worker exited early (${child.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`worker did not start listening:\n${output}`);
      port = Number(/worker listening on http:\/\/[\d.]+:(\d+)/.exec(output)?.[1]) || undefined;
      await sleep(50);
    }

    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ success: true, data: { status: 'ok' } });

    const signalled = Date.now();
    child.kill('SIGTERM');
    const exit = await Promise.race([exited, sleep(15_000, 'still running' as const, { ref: false })]);
    expect({ exit, output: exit === 'still running' || exit.code !== 0 ? output : '' }).toEqual({
      exit: { code: 0, signal: null },
      output: '',
    });
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(output).toContain('SIGTERM: draining jobs');
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
  }, 40_000);

  it('refuses to start on bad configuration: exit 1, naming the variable', async () => {
    const bad = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { ...process.env, WORKER_PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    bad.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    bad.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exit = await new Promise<Exit>((resolve) => bad.once('exit', (code, signal) => resolve({ code, signal })));
    expect(exit).toEqual({ code: 1, signal: null });
    expect(out).toContain('WORKER_PORT');
  }, 20_000);
});
