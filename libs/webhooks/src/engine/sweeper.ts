import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { acrossTenants } from '@ipm/persistence';
import { AppConfig } from '@ipm/core';
import { DeliveryMachine, sqlStates, statesWhere } from '@ipm/lifecycle';
import { IdentifiedJob, JobProducer, StalledJobSources } from '@ipm/queues';
import { DeliveryMetrics } from './delivery-metrics';
import { BackgroundLoop } from './background-loop';
import { retryJobId } from './delivery-executor';
import { DELIVERY_JOB_OPTIONS, sendJob } from './delivery-scheduler';
import { DeliveryRetention } from './delivery-retention';

/** The delivery states a delivery still has a future in: the predicate of the partial index ix_deliveries_due. */
const UNFINISHED = sqlStates(statesWhere(DeliveryMachine, (s) => s.terminal !== true));

/** Rows looked at per sweep. */
const SWEEP_BATCH = 1000;
/** Redis lookups in parallel. */
const LOOKUP_PARALLELISM = 50;

interface DueDelivery {
  delivery_id: string;
  webhook_id: string;
  status: 'pending' | 'retrying' | 'in_flight';
  attempt_count: number;
  job_id: string | null;
}

/** The job that should hold a due delivery's work, by its state: the same ids the engine uses. */
export function jobForDue(row: DueDelivery): IdentifiedJob {
  // In flight past the grace: its attempt was abandoned, so the job may claim the row again.
  const reclaim = row.status === 'in_flight';
  const payload = { delivery_id: row.delivery_id, webhook_id: row.webhook_id, ...(reclaim ? { reclaim } : {}) };
  if (row.status === 'pending') return sendJob(row) as IdentifiedJob;
  // retrying: the next attempt; in_flight: the attempt whose worker died (the first one is the send job).
  const attempt = row.status === 'retrying' ? row.attempt_count + 1 : row.attempt_count;
  if (row.status === 'in_flight' && attempt <= 1) return sendJob(row, true) as IdentifiedJob;
  return {
    name: 'delivery.retry',
    payload,
    opts: { ...DELIVERY_JOB_OPTIONS, jobId: retryJobId(row.delivery_id, attempt) },
  };
}

/** The batch job that carries a due row's first attempt, if the fan-out put it in one. */
export function firstAttemptBatch(row: DueDelivery): string | null {
  const firstAttempt = row.status === 'pending' || (row.status === 'in_flight' && row.attempt_count <= 1);
  return firstAttempt ? row.job_id : null;
}

/**
 * PostgreSQL is the truth, Redis only carries work: every SWEEPER_INTERVAL_MS, one worker (a
 * transaction-scoped advisory lock elects it) looks for deliveries that have been due, or in
 * flight, for longer than SWEEPER_GRACE_MS and re-enqueues those that no queue holds (Redis
 * flushed or restarted without persistence, a crash between commit and enqueue, a job that ran
 * out of attempts while the database was down). Unfinished replays likewise, and the jobs of every
 * registered StalledJobSource (bulk runs). It runs on a timer in the worker, not as a queued
 * job, so that it survives the loss of Redis itself; each sweep
 * also re-declares the recurring jobs that such a loss would have erased.
 */
@Injectable()
export class Sweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(Sweeper.name);
  private readonly loop = new BackgroundLoop(() => this.round());
  /** Jobs re-enqueued since start (for metrics and tests). */
  requeued = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly jobs: JobProducer,
    private readonly retention: DeliveryRetention,
    private readonly config: AppConfig,
    private readonly metrics: DeliveryMetrics,
    private readonly sources: StalledJobSources,
  ) {}

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** One sweep; returns how many jobs it re-enqueued (0 when another worker holds the sweep lock). */
  async sweepOnce(): Promise<number> {
    return this.dataSource.transaction(async (em) => {
      const [{ locked }] = await em.query<Array<{ locked: boolean }>>(
        `SELECT pg_try_advisory_xact_lock(hashtext('ipm.sweeper')) AS locked`,
      );
      if (!locked) return 0;
      const grace = this.config.SWEEPER_GRACE_MS / 1000;
      const due = await acrossTenants('the sweeper re-enqueues overdue deliveries of every tenant', () =>
        em.query<DueDelivery[]>(
          `SELECT delivery_id, webhook_id, status, attempt_count, job_id FROM deliveries
          WHERE status IN (${UNFINISHED}) AND next_attempt_at <= now() - make_interval(secs => $1)
          ORDER BY next_attempt_at LIMIT $2`,
          [grace, SWEEP_BATCH],
        ),
      );
      const replays = await acrossTenants('the sweeper re-enqueues stalled replays of every tenant', () =>
        em.query<Array<{ replay_id: string }>>(
          `SELECT replay_id FROM webhook_replays
          WHERE status IN ('queued', 'running') AND updated_at <= now() - make_interval(secs => $1)
          ORDER BY updated_at LIMIT 100`,
          [grace],
        ),
      );
      // Other features' runs that PostgreSQL holds as due (bulk jobs), each feature's own query.
      const others: IdentifiedJob[] = [];
      for (const source of this.sources.list()) others.push(...(await source.stalled(em, grace, 100)));
      const wanted: Array<{ job: IdentifiedJob; batch: string | null }> = [
        ...due.map((row) => ({ job: jobForDue(row), batch: firstAttemptBatch(row) })),
        ...replays.map((r) => ({
          job: { name: 'replay.run' as const, payload: r, opts: { jobId: r.replay_id } },
          batch: null,
        })),
        ...others.map((job) => ({ job, batch: null })),
      ];
      let added = 0;
      for (let i = 0; i < wanted.length; i += LOOKUP_PARALLELISM) {
        const results = await Promise.all(
          wanted.slice(i, i + LOOKUP_PARALLELISM).map(async ({ job, batch }) => {
            // A first attempt may still wait in its fan-out's batch job: then it is held.
            if (batch !== null && (await this.jobs.isQueued('delivery.batch', batch))) return false;
            const queued = await this.jobs.ensureQueued(job);
            if (queued) this.metrics.sweeperRequeued.inc({ job: job.name });
            return queued;
          }),
        );
        added += results.filter(Boolean).length;
      }
      if (added > 0) this.logger.warn(`re-enqueued ${added} job(s) that no queue held`);
      this.requeued += added;
      return added;
    });
  }

  /** One sweep (the first right at start-up), then SWEEPER_INTERVAL_MS until the next. */
  private async round(): Promise<number> {
    try {
      await this.sweepOnce();
      await this.retention.declareSchedule();
    } catch (err) {
      this.logger.error(`sweep failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    return this.config.SWEEPER_INTERVAL_MS;
  }
}
