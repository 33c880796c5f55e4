import { ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUILD_TIMEOUT_MS, ensureWorkerBuilt, ROOT, WORKER_MAIN as MAIN } from '../support/built-worker';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

describe('the built worker process (node dist/apps/worker/main.js)', () => {
  let child: ChildProcess | undefined;
  let output = '';
  let exited: Promise<Exit>;

  beforeAll(() => ensureWorkerBuilt(), BUILD_TIMEOUT_MS);

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
