import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'pg';
import { loadConfig } from '@ipm/core';
import { runMigrations } from '@ipm/persistence';
import { BuiltApi } from '../support/built-api';
import { ensureBuilt, freePort, spawnWorker } from '../support/built-worker';
import { PgServer } from '../support/pg-server';
import { RedisServer } from '../support/redis-server';
import { TestReceiver } from '../support/receiver';
import { call, mintJwt } from './http-client';

/** How big a run is: the CI test uses a small one, `npm run chaos` a large one. */
export interface ChaosSize {
  /** Events each scenario publishes. */
  events: number;
  /** Webhooks of each scenario's tenant, all subscribed to every event: deliveries = events × webhooks. */
  webhooks: number;
  /** Events per /event/publish request. */
  batch: number;
  /** Publish requests in parallel. */
  publishers: number;
  /** How long the receiver takes to answer each delivery. */
  receiverDelayMs: number;
  /** How long Redis (killed) and PostgreSQL (stopped) stay down. */
  outageMs: number;
  /** How long a scenario may take to deliver everything once its fault is over. */
  drainTimeoutMs: number;
}

/** The worker settings of every run: short locks and sweeps, so that recovery takes seconds, not minutes. */
const WORKER_SETTINGS: NodeJS.ProcessEnv = {
  WORKER_PORT: '0',
  QUEUE_LOCK_MS: '2000', // a killed worker's jobs stall back after ~2 s
  SWEEPER_INTERVAL_MS: '500',
  SWEEPER_GRACE_MS: '2000',
  RELAY_POLL_MS: '50',
  SHUTDOWN_TIMEOUT_MS: '3000',
  DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT: '8',
};

/**
 * The dedicated world the faults are injected into: a PostgreSQL cluster and a Redis server of its own
 * (the shared ones are never touched), migrated; an in-process receiver; built api and worker processes
 * started on demand and all stopped by close(). Scenarios share one lab, each in a tenant of its own.
 */
export class ChaosLab {
  readonly db: Pool;
  readonly jwtSecret: string;
  readonly jwtAudience: string;
  private readonly workers = new Set<ChildProcess>();
  private readonly workerOutput = new Map<ChildProcess, () => string>();
  private readonly workerPorts = new Map<ChildProcess, number>();
  private readonly apis = new Set<BuiltApi>();
  /** The long-lived api scenarios set tenants up through (and publish to, unless they bring their own). */
  api!: BuiltApi;

  private constructor(
    readonly pg: PgServer,
    readonly redis: RedisServer,
    readonly receiver: TestReceiver,
  ) {
    this.db = new Pool({ connectionString: pg.url('ipm'), max: 4 });
    // While PostgreSQL is down, idle clients error: that must not crash the test process.
    this.db.on('error', () => undefined);
    const config = loadConfig(this.env());
    this.jwtSecret = config.JWT_SECRET;
    this.jwtAudience = config.JWT_AUDIENCE;
  }

  /** Builds dist/ if stale, starts PostgreSQL, Redis, the receiver and one api; migrates. */
  static async start(): Promise<ChaosLab> {
    ensureBuilt(['api', 'worker']);
    const [pg, redis, receiver] = await Promise.all([
      PgServer.start(),
      RedisServer.start(),
      new TestReceiver().start(),
    ]);
    const lab = new ChaosLab(pg, redis, receiver);
    try {
      await runMigrations({ DATABASE_URL: pg.url('ipm'), DATABASE_POOL_SIZE: 2 });
      lab.api = await lab.startApi();
    } catch (err) {
      await lab.close();
      throw err;
    }
    return lab;
  }

  /** The environment of every api and worker process: the lab's PostgreSQL and Redis. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DATABASE_URL: this.pg.url('ipm'),
      REDIS_URL: this.redis.url,
      QUEUE_PREFIX: 'ipm-chaos',
      WEBHOOK_TARGET_ALLOWLIST: '127.0.0.1/32',
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
      LOG_FORMAT: 'text',
      NO_COLOR: '1',
      BUILD_ID: 'chaos',
      ...WORKER_SETTINGS,
      ...extra,
    };
  }

  async startApi(extra: NodeJS.ProcessEnv = {}): Promise<BuiltApi> {
    const api = await BuiltApi.start(this.env(extra));
    this.apis.add(api);
    return api;
  }

  /** A built worker process; resolves once its health port answers (its queues are consumed from then on). */
  async startWorker(extra: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
    const port = await freePort();
    const { child, output } = spawnWorker(this.env({ WORKER_PORT: String(port), ...extra }));
    this.workers.add(child);
    this.workerOutput.set(child, output);
    this.workerPorts.set(child, port);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`worker exited at start (${String(child.exitCode)}):\n${output()}`);
      }
      const live = await call(`http://127.0.0.1:${port}/health/live`, { timeoutMs: 1000 });
      if (live.kind === 'response' && live.status === 200) return child;
      if (Date.now() > deadline) throw new Error(`worker not live after 30 s:\n${output()}`);
      await sleep(50);
    }
  }

  /** The base URL of a worker's health and metrics server. */
  workerUrl(child: ChildProcess): string {
    return `http://127.0.0.1:${this.workerPorts.get(child) ?? 0}`;
  }

  workerLog(child: ChildProcess): string {
    return this.workerOutput.get(child)?.() ?? '';
  }

  /** Stops a worker: SIGTERM (drains) or SIGKILL (a crash); resolves with its exit code or signal. */
  async stopWorker(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<string> {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      await exited;
    }
    this.workers.delete(child);
    return child.signalCode ?? String(child.exitCode);
  }

  async stopAllWorkers(): Promise<void> {
    await Promise.all([...this.workers].map((w) => this.stopWorker(w)));
  }

  forgetApi(api: BuiltApi): void {
    this.apis.delete(api);
  }

  /** A tenant with `webhooks` webhooks, on receiver paths `/<org>/<i>`, each answering after `delayMs`. */
  async tenant(label: string, webhooks: number, delayMs: number): Promise<Tenant> {
    const org = `${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const jwt = mintJwt(this.jwtSecret, this.jwtAudience, [org], ['manage_webhooks', 'publish_events']);
    const headers = { authorization: `Bearer ${jwt}`, 'x-orgcode': org };
    const webhookIds: string[] = [];
    for (let i = 0; i < webhooks; i++) {
      this.receiver.on(`/${org}/${i}`, { delayMs });
      const created = await call(`${this.api.url}/ipm/webhook/create`, {
        headers,
        body: { endpoint_url: this.receiver.url(`/${org}/${i}`), event_filters: [{ service: 'rfp' }] },
      });
      if (created.kind !== 'response' || created.status !== 200) {
        throw new Error(`webhook/create failed: ${JSON.stringify(created)}`);
      }
      webhookIds.push((created.body.data as { webhook_id: string }).webhook_id);
    }
    return { org, headers, webhookIds };
  }

  /** Stops every process the lab started, then PostgreSQL, Redis and the receiver. */
  async close(): Promise<void> {
    await Promise.all([...this.workers].map((w) => this.stopWorker(w, 'SIGKILL')));
    await Promise.all([...this.apis].map((a) => a.kill()));
    await this.db.end().catch(() => undefined);
    await Promise.all([this.pg.destroy(), this.redis.destroy(), this.receiver.close()]);
  }
}

export interface Tenant {
  org: string;
  headers: Record<string, string>;
  webhookIds: string[];
}

/** Polls `probe` until it returns true (errors count as false: a dependency may be down); false after `timeoutMs`. */
export async function until(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await Promise.resolve()
      .then(probe)
      .catch(() => false);
    if (ok) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}
