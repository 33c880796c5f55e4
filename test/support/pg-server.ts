import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './built-worker';

/** The directory of PostgreSQL's server binaries (initdb, pg_ctl): PG_BIN, else the newest /usr/lib/postgresql/<ver>. */
function pgBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin/pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries found (set PG_BIN)');
  return join(base, versions[0], 'bin');
}

/** The `postgres` system user's uid and gid (PostgreSQL refuses to run as root). */
function postgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, but there is no postgres user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A throwaway PostgreSQL cluster for fault tests (the shared server must never be restarted): initdb in a
 * temporary directory (trust auth), listening on a free 127.0.0.1 port with its socket in that directory.
 * It can be stopped (fast or immediate: a crash) and started again; `destroy()` removes it.
 */
export class PgServer {
  private readonly bin = pgBin();
  private readonly user = postgresUser();

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<PgServer> {
    const dir = mkdtempSync(join(tmpdir(), 'ipm-chaos-pg-'));
    const server = new PgServer(await freePort(), dir);
    if (server.user) chownSync(dir, server.user.uid, server.user.gid);
    await server.run('initdb', ['-D', server.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    await server.start();
    return server;
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  /** A connection URL to `database` on this server. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    // fsync off: nothing here outlives the machine; a stop, even `immediate`, keeps what was committed.
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    await this.run('pg_ctl', ['-D', this.data, '-o', opts, '-l', join(this.dir, 'log'), '-w', '-t', '30', 'start']);
    await this.query('SELECT 1');
  }

  /** `fast`: disconnects clients (57P01) and checkpoints; `immediate`: a crash, recovered at the next start. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.run('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '30', 'stop']);
  }

  /** One statement on a connection of its own (database `postgres` unless named). */
  async query<T>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
    const client = new Client({ connectionString: this.url(database) });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  /** Stops the server (if running) and deletes its directory. */
  async destroy(): Promise<void> {
    await this.run('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined); // not running
    rmSync(this.dir, { recursive: true, force: true });
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(join(this.dir, 'log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Runs a server binary (as the postgres user when we are root), without blocking the event loop. */
  private async run(tool: 'initdb' | 'pg_ctl', args: string[]): Promise<void> {
    const command = join(this.bin, tool);
    const [file, argv] = this.user ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    try {
      await promisify(execFile)(file, argv, { timeout: 60_000 });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`, { cause: err });
    }
  }
}
