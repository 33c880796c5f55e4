import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource, type EntityManager, IsNull } from 'typeorm';
import { BulkJobMachine, type BulkJobStatus, sqlStates, terminalStates } from '@ipm/lifecycle';
import { type ReadOptions, TenantRepository, type TenantScope } from '@ipm/persistence';
import { BulkJobEntity, type BulkJobType } from './bulk-job.entity';

/** The state an upload URL is good for: the import's initial state. */
const AWAITING_UPLOAD: BulkJobStatus = 'awaiting_upload';

/**
 * `bulk_jobs`, always within a tenant (and an app principal's app). Two reads start from a job id
 * alone, because that is all they are given: the signed URL (whose tenant is checked against the
 * job's right after) and `bulk.run` (whose payload is the id); callers wrap them in acrossTenants().
 */
@Injectable()
export class BulkJobsRepository extends TenantRepository<BulkJobEntity> {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    super(BulkJobEntity, dataSource.manager);
  }

  /** The scope's job (of `jobType` when given), locked when asked; null when it is not the scope's. */
  byId(
    scope: TenantScope,
    jobId: string,
    options: ReadOptions & { jobType?: BulkJobType } = {},
  ): Promise<BulkJobEntity | null> {
    const { jobType, ...read } = options;
    return this.findOne(scope, { job_id: jobId, ...(jobType ? { job_type: jobType } : {}) }, read);
  }

  /** A job by its id in whichever tenant: only inside acrossTenants(), by a caller that holds a global id. */
  byIdInAnyTenant(jobId: string, em?: EntityManager): Promise<BulkJobEntity | null> {
    return (em ?? this.dataSource.manager).findOne(BulkJobEntity, { where: { job_id: jobId } });
  }

  /** Takes the job's single-use upload token (cleared), if it is still the one issued and the job awaits its upload. */
  async claimUploadToken(scope: TenantScope, jobId: string, tokenId: string): Promise<boolean> {
    const where = { job_id: jobId, upload_token_id: tokenId, status: AWAITING_UPLOAD };
    return (await this.update(scope, where, { upload_token_id: null })) > 0;
  }

  /** Gives a claimed upload token back after a failed upload, if the job still awaits one. */
  async returnUploadToken(scope: TenantScope, jobId: string, tokenId: string): Promise<void> {
    await this.update(
      scope,
      { job_id: jobId, upload_token_id: IsNull(), status: AWAITING_UPLOAD },
      { upload_token_id: tokenId },
    );
  }

  /**
   * Up to `limit` jobs of every tenant whose files are due to expire, from one of `states`, locked
   * FOR UPDATE SKIP LOCKED until `em`'s transaction ends. Only inside acrossTenants().
   */
  lockDueForExpiry(em: EntityManager, states: readonly BulkJobStatus[], limit: number): Promise<BulkJobEntity[]> {
    // `status NOT IN (<terminal>)`, i.e. `<> 'expired'`, lets the planner use the partial index ix_bulk_jobs_expiry.
    return em.query<BulkJobEntity[]>(
      `SELECT * FROM bulk_jobs
        WHERE expires_at < now() AND status NOT IN (${sqlStates(terminalStates(BulkJobMachine))})
          AND status = ANY($1::text[])
        ORDER BY expires_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED`,
      [states, limit],
    );
  }
}
