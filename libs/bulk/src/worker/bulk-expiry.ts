import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '@ipm/core';
import { BulkJobMachine, type BulkJobStatus, fire, sourcesOf } from '@ipm/lifecycle';
import { acrossTenants } from '@ipm/persistence';
import { JobHandler, JobProducer } from '@ipm/queues';
import { BulkJobsRepository } from '../jobs/bulk-jobs.repository';
import { BULK_STORAGE, type BulkStorage } from '../storage/bulk-storage';
import { BULK_WORKER_ACTOR } from './bulk.runner';

/** Jobs expired per transaction: their row locks are held while their files are deleted. */
export const BULK_EXPIRY_BATCH = 100;

/**
 * The states a job may expire from, as the lifecycle machine says: awaiting_upload and the ended
 * ones. Never `queued` or `running`, whose files a worker is reading or writing.
 */
export const EXPIRABLE_STATES: readonly BulkJobStatus[] = sourcesOf(BulkJobMachine, 'expire');

export interface BulkExpiryResult {
  /** Jobs moved to `expired`. */
  jobs: number;
  /** Stored parts deleted with them (uploads, export parts, reports). */
  parts: number;
}

/**
 * `maintenance.bulk_expiry`, hourly: jobs whose `expires_at` (BULK_FILE_TTL_DAYS after their last
 * create, commit or continue) has passed lose their files and become `expired`. Each batch locks
 * its jobs FOR UPDATE SKIP LOCKED, so two workers never take the same job and a job being
 * cancelled or continued right now is left for the next run. Files are deleted before the status
 * commits: a crash in between leaves a job still expirable, and the next run finishes it.
 */
@Injectable()
export class BulkExpiry implements OnApplicationBootstrap, BeforeApplicationShutdown {
  static readonly SCHEDULE = { pattern: '37 * * * *', tz: 'UTC' } as const;
  private readonly logger = new Logger(BulkExpiry.name);
  private stopSchedule?: () => void;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(BULK_STORAGE) private readonly storage: BulkStorage,
    private readonly repo: BulkJobsRepository,
    private readonly jobs: JobProducer,
    private readonly config: AppConfig,
  ) {}

  /** Declared at boot by every worker and kept declared every SWEEPER_INTERVAL_MS (a schedule erased with Redis comes back). */
  async onApplicationBootstrap(): Promise<void> {
    this.stopSchedule = await this.jobs.keepScheduled(
      'maintenance.bulk_expiry',
      BulkExpiry.SCHEDULE,
      'maintenance.bulk_expiry',
      {},
      this.config.SWEEPER_INTERVAL_MS,
    );
  }

  beforeApplicationShutdown(): void {
    this.stopSchedule?.();
  }

  @JobHandler('maintenance.bulk_expiry')
  async expire(): Promise<BulkExpiryResult> {
    const total: BulkExpiryResult = { jobs: 0, parts: 0 };
    for (;;) {
      const batch = await this.expireBatch();
      total.jobs += batch.jobs;
      total.parts += batch.parts;
      if (batch.jobs < BULK_EXPIRY_BATCH) break;
    }
    if (total.jobs > 0) this.logger.log(`expired ${total.jobs} bulk job(s), deleting ${total.parts} stored part(s)`);
    return total;
  }

  /** One transaction: up to BULK_EXPIRY_BATCH due jobs locked, their files deleted, their status moved. */
  private expireBatch(): Promise<BulkExpiryResult> {
    return this.dataSource.transaction(async (em) => {
      const due = await acrossTenants('the hourly expiry sweeps every tenant’s due jobs', () =>
        this.repo.lockDueForExpiry(em, EXPIRABLE_STATES, BULK_EXPIRY_BATCH),
      );
      let parts = 0;
      const now = new Date();
      for (const job of due) {
        parts += await this.storage.delete({ orgcode: job.orgcode, jobId: job.job_id });
        // Each job's own change is its tenant's.
        await this.repo.revise(
          job,
          em,
          job,
          { job_id: job.job_id },
          {
            actor: BULK_WORKER_ACTOR,
            at: now,
            patch: { status: fire(BulkJobMachine, job.status, 'expire'), upload_token_id: null },
          },
        );
      }
      return { jobs: due.length, parts };
    });
  }
}
