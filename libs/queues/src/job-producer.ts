import { getQueueToken } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { TimeoutError, within } from '@ipm/core';
import type { BulkJobOptions, Job, JobSchedulerTemplateOptions, JobsOptions, Queue, RepeatOptions } from 'bullmq';
import { JOB_QUEUE, JobName, JobPayloads } from './jobs';
import { QueueName } from './queue-names';

/** A job as enqueued: its payload type follows from its name. */
export type TypedJob<N extends JobName> = Job<JobPayloads[N], unknown, N>;

/** One entry of addBulk; a union over job names, so each entry's payload is checked against its own name. */
export type BulkJob = {
  [N in JobName]: { name: N; payload: JobPayloads[N]; opts?: BulkJobOptions };
}[JobName];

/** A schedule: a cron `pattern` or an `every` interval. Cron patterns run in UTC unless `tz` says otherwise. */
export type JobSchedule = Pick<RepeatOptions, 'pattern' | 'every' | 'tz' | 'startDate' | 'endDate' | 'limit'>;

/** Finished jobs are kept for inspection for a while, not forever (Redis is not an archive). */
export const DEFAULT_JOB_OPTIONS = {
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
} as const satisfies JobsOptions;

type AnyQueue = Queue<unknown, unknown, string>;

/** How long a request waits for Redis to take a job it enqueues after its commit. */
export const AFTER_COMMIT_ENQUEUE_WAIT_MS = 2000;

const afterCommitLogger = new Logger('JobProducer');

/**
 * Runs an enqueue whose work is already committed in PostgreSQL (the source of truth, which the
 * worker's sweeper re-enqueues from), waiting for Redis at most `waitMs`: the queue connection
 * retries forever (`maxRetriesPerRequest: null`), so while Redis is down a plain enqueue would hang
 * the request. Past the wait, or on an error, it logs a warning and resolves `false`; the command
 * may still run when Redis returns, which the job id makes harmless (BullMQ adds no second job
 * with an id it holds). Resolves `true` once Redis has the job.
 */
export async function enqueueAfterCommit(
  what: string,
  enqueue: () => Promise<unknown>,
  { waitMs = AFTER_COMMIT_ENQUEUE_WAIT_MS, logger = afterCommitLogger }: { waitMs?: number; logger?: Logger } = {},
): Promise<boolean> {
  const work = enqueue();
  try {
    await within(waitMs, work);
    return true;
  } catch (err) {
    if (err instanceof TimeoutError) {
      logger.warn(`${what}: Redis did not take it within ${waitMs} ms; the sweeper re-enqueues it`);
      // Should it fail later (Redis back, or the queue closed), there is nothing more to do.
      work.catch((late: unknown) => logger.warn(`${what}: not enqueued: ${errorText(late)}`));
    } else {
      logger.warn(`${what}: not enqueued (the sweeper re-enqueues it): ${errorText(err)}`);
    }
    return false;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Job states in which a queue still holds the job's work. */
const LIVE_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/**
 * The one way to enqueue: picks each job's queue from JOB_QUEUE, so callers name the job and
 * never the queue.
 */
@Injectable()
export class JobProducer {
  private readonly logger = new Logger(JobProducer.name);
  private readonly queues = new Map<QueueName, AnyQueue>();

  constructor(private readonly moduleRef: ModuleRef) {}

  async add<N extends JobName>(name: N, payload: JobPayloads[N], opts?: JobsOptions): Promise<TypedJob<N>> {
    const job = await this.queueFor(name).add(name, payload, { ...DEFAULT_JOB_OPTIONS, ...opts });
    return job as TypedJob<N>;
  }

  /**
   * Enqueues many jobs, one round trip per queue (atomic within a queue, not across queues).
   * Returns the jobs in the order given.
   */
  async addBulk(jobs: readonly BulkJob[]): Promise<TypedJob<JobName>[]> {
    const byQueue = new Map<QueueName, { index: number; job: BulkJob }[]>();
    jobs.forEach((job, index) => {
      const queue = JOB_QUEUE[job.name];
      const group = byQueue.get(queue) ?? [];
      group.push({ index, job });
      byQueue.set(queue, group);
    });
    const result = new Array<TypedJob<JobName>>(jobs.length);
    for (const [queueName, group] of byQueue) {
      const added = await this.queue(queueName).addBulk(
        group.map(({ job }) => ({ name: job.name, data: job.payload, opts: { ...DEFAULT_JOB_OPTIONS, ...job.opts } })),
      );
      added.forEach((job, i) => {
        result[group[i].index] = job as TypedJob<JobName>;
      });
    }
    return result;
  }

  /**
   * Makes sure a job with this id is waiting, delayed or running: when the queue holds none (lost
   * with Redis, or finished without its work being recorded), the job is (re)added. Returns whether
   * it had to be. For the sweeper, which knows from PostgreSQL what must be queued.
   */
  async ensureQueued(job: BulkJob & { opts: { jobId: string } }): Promise<boolean> {
    const queue = this.queueFor(job.name);
    const existing = await queue.getJob(job.opts.jobId);
    if (existing) {
      const state = await existing.getState();
      if (LIVE_STATES.has(state)) return false;
      await existing.remove().catch(() => undefined);
    }
    await queue.add(job.name, job.payload, { ...DEFAULT_JOB_OPTIONS, ...job.opts });
    return true;
  }

  /** Removes a job that is not running (BullMQ leaves a locked one alone); whether one was removed. */
  async remove(name: JobName, jobId: string): Promise<boolean> {
    return (await this.queueFor(name).remove(jobId)) === 1;
  }

  /** Makes a delayed job with this id due now; whether there was one. */
  async promote(name: JobName, jobId: string): Promise<boolean> {
    const job = await this.queueFor(name).getJob(jobId);
    if (!job || !(await job.isDelayed())) return false;
    await job.promote();
    return true;
  }

  /** Makes every delayed job of a queue due now (in rounds of 1,000). */
  async promoteDelayed(queue: QueueName): Promise<void> {
    await this.queue(queue).promoteJobs({ count: 1000 });
  }

  /** Whether the queue of `name` holds a job with this id that is waiting, delayed or running. */
  async isQueued(name: JobName, jobId: string): Promise<boolean> {
    const existing = await this.queueFor(name).getJob(jobId);
    return existing !== undefined && LIVE_STATES.has(await existing.getState());
  }

  /**
   * Creates or updates a recurring job (a BullMQ job scheduler; repeatable jobs are gone in
   * BullMQ 6). Idempotent per `schedulerId`, so every worker may call it at boot.
   */
  async schedule<N extends JobName>(
    schedulerId: string,
    schedule: JobSchedule,
    name: N,
    payload: JobPayloads[N],
    opts?: JobSchedulerTemplateOptions,
  ): Promise<void> {
    await this.queueFor(name).upsertJobScheduler(
      schedulerId,
      schedule.pattern ? { tz: 'UTC', ...schedule } : schedule,
      { name, data: payload, opts: { ...DEFAULT_JOB_OPTIONS, ...opts } },
    );
  }

  /**
   * `schedule` now, then again every `intervalMs`, so that a schedule erased with Redis comes back
   * without a restart (every worker may do it: a scheduler id is one scheduler). Returns what stops
   * the re-declaring; a failed re-declaration is logged and tried again next time.
   */
  async keepScheduled<N extends JobName>(
    schedulerId: string,
    schedule: JobSchedule,
    name: N,
    payload: JobPayloads[N],
    intervalMs: number,
  ): Promise<() => void> {
    const declare = (): Promise<void> => this.schedule(schedulerId, schedule, name, payload);
    await declare();
    const timer = setInterval(() => {
      declare().catch((err: unknown) =>
        this.logger.error(`schedule ${schedulerId} not declared: ${err instanceof Error ? err.message : String(err)}`),
      );
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private queueFor(name: JobName): AnyQueue {
    return this.queue(JOB_QUEUE[name]);
  }

  private queue(name: QueueName): AnyQueue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = this.moduleRef.get<AnyQueue>(getQueueToken(name), { strict: false });
      this.queues.set(name, queue);
    }
    return queue;
  }
}
