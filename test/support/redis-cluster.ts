import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './built-worker';

const run = promisify(execFile);

/** `redis-cli -p <port> <args>`'s output ('' when the server does not answer). */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5000 }).catch(
    () => ({ stdout: '' }),
  );
  return stdout;
}

/**
 * A Redis Cluster of our own on loopback (the shared Redis is never touched): `masters` redis-servers with
 * `--cluster-enabled yes` on free ports, each in a temporary directory, joined by `redis-cli --cluster create`
 * with no replicas. destroy() kills them and removes their directories.
 */
export class RedisCluster {
  private readonly children: ChildProcess[] = [];
  private output = '';

  private constructor(
    readonly ports: number[],
    readonly dir: string,
  ) {}

  static async start(masters = 3, timeoutMs = 15_000): Promise<RedisCluster> {
    const ports: number[] = [];
    while (ports.length < masters) {
      const port = await freePort();
      // The cluster bus listens on port + 10000: both must be free (and below 65536).
      if (port < 55_000 && !ports.includes(port) && !ports.includes(port + 10_000)) ports.push(port);
    }
    const cluster = new RedisCluster(ports, mkdtempSync(join(tmpdir(), 'ipm-redis-cluster-')));
    try {
      await cluster.boot(timeoutMs);
    } catch (err) {
      await cluster.destroy();
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${cluster.output}`, { cause: err });
    }
    return cluster;
  }

  /** `host:port,…`: the value of REDIS_CLUSTER_NODES. */
  get nodes(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  private async boot(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const port of this.ports) {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'];
      args.push('--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000');
      args.push('--dir', this.dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning');
      const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (chunk: Buffer): void => void (this.output = (this.output + chunk.toString()).slice(-8000));
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      this.children.push(child);
    }
    for (const port of this.ports) {
      while ((await redisCli(port, 'PING')).trim() !== 'PONG') {
        if (Date.now() > deadline) throw new Error(`redis-server :${port} did not answer PING`);
        await sleep(20);
      }
    }
    await run(
      'redis-cli',
      ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: timeoutMs },
    );
    for (const port of this.ports) {
      while (!(await redisCli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`cluster not ok on :${port}`);
        await sleep(50);
      }
    }
  }

  /** The hash slot of `key`. */
  async slotOf(key: string): Promise<number> {
    return Number((await redisCli(this.ports[0], 'CLUSTER', 'KEYSLOT', key)).trim());
  }

  /** The keys matching `pattern` on each master (port → keys). */
  async keys(pattern: string): Promise<Map<number, string[]>> {
    const found = new Map<number, string[]>();
    for (const port of this.ports) {
      const keys = (await redisCli(port, '--scan', '--pattern', pattern)).split('\n').filter((k) => k !== '');
      if (keys.length > 0) found.set(port, keys);
    }
    return found;
  }

  /** How many keys the master on `port` holds in `slot`. */
  async countInSlot(port: number, slot: number): Promise<number> {
    return Number((await redisCli(port, 'CLUSTER', 'COUNTKEYSINSLOT', String(slot))).trim());
  }

  async destroy(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
