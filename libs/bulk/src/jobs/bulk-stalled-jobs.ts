import { Injectable, OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BulkJobMachine, sqlStates, statesWhere } from '@ipm/lifecycle';
import { acrossTenants } from '@ipm/persistence';
import { BULK_RUN_JOB_OPTIONS, IdentifiedJob, StalledJobSource, StalledJobSources } from '@ipm/queues';

/** A job a worker should be running: committed (queued) or mid-way (running). */
const AWAITING_A_RUN = sqlStates(statesWhere(BulkJobMachine, (s) => s.name === 'queued' || s.name === 'running'));

/**
 * Bulk runs for the worker's sweeper: jobs PostgreSQL holds as queued or running, unchanged for the
 * grace period, whose `bulk.run` no queue may hold any more (Redis flushed, say).
 */
@Injectable()
export class BulkStalledJobs implements StalledJobSource, OnModuleInit {
  constructor(private readonly sources: StalledJobSources) {}

  onModuleInit(): void {
    this.sources.register(this);
  }

  async stalled(em: EntityManager, graceSeconds: number, limit: number): Promise<IdentifiedJob[]> {
    const rows = await acrossTenants('the sweeper re-enqueues stalled bulk jobs of every tenant', () =>
      em.query<Array<{ job_id: string }>>(
        `SELECT job_id FROM bulk_jobs
          WHERE status IN (${AWAITING_A_RUN}) AND updated_at <= now() - make_interval(secs => $1)
          ORDER BY updated_at LIMIT $2`,
        [graceSeconds, limit],
      ),
    );
    return rows.map((b) => ({
      name: 'bulk.run' as const,
      payload: { job_id: b.job_id },
      opts: { ...BULK_RUN_JOB_OPTIONS, jobId: b.job_id },
    }));
  }
}
