import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import {
  AppConfig,
  AppError,
  ErrorDetail,
  IdPrefix,
  MutationRequestDto,
  newId,
  Page,
  PageTokens,
  requireRevision,
} from '@ipm/core';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { fire, initialState } from '@ipm/lifecycle';
import { BulkJobMachine, DeliveryMachine, WebhookMachine } from '@ipm/lifecycle';
import { fetchKeysetPage, type ScopedPatch } from '@ipm/persistence';
import { BULK_RUN_JOB_OPTIONS, enqueueAfterCommit, JobProducer } from '@ipm/queues';
import { BulkExportTarget, BulkImportTarget, BulkJobEntity, BulkJobOptions } from '../jobs/bulk-job.entity';
import { BulkJobsRepository } from '../jobs/bulk-jobs.repository';
import {
  ACTIVE_BULK_JOB_STATUSES,
  BulkExportCreateRequestDto,
  BulkImportCommitRequestDto,
  BulkImportCreatedDto,
  BulkImportCreateRequestDto,
  BulkJobCancelRequestDto,
  BulkJobContinueRequestDto,
  BulkJobDetailDto,
  BulkJobDto,
  BulkJobGetRequestDto,
  BulkJobListRequestDto,
  BulkJobResultDto,
} from './bulk.dto';
import { recordBulkJob, toBulkJobDto } from './bulk-job.records';
import { newUploadTokenId } from './bulk-url-tokens';
import { BulkTransfersService } from './bulk-transfers.service';

/**
 * What a caller needs besides manage_bulk_jobs: the permission of the route that writes (import) or
 * reads (export) the same rows, so that a bulk job never reaches further than the caller's own
 * routes. An events export needs none (any caller reads its tenant's /cdc/list).
 */
const IMPORT_PERMISSIONS: Readonly<Record<BulkImportTarget, readonly Permission[]>> = {
  events: [Permission.PublishEvents],
  webhooks: [Permission.ManageWebhooks],
  kpis: [Permission.ManageKpis],
};
const EXPORT_PERMISSIONS: Readonly<Record<BulkExportTarget, readonly Permission[]>> = {
  events: [],
  deliveries: [Permission.ManageWebhooks],
  webhooks: [Permission.ManageWebhooks],
  kpis: [Permission.ViewKpis, Permission.ManageKpis],
  audit: [Permission.ViewAudit],
};

/** Which export filters each target understands, and the statuses its `status` filter may name. */
const EXPORT_FILTERS: Readonly<Record<BulkExportTarget, readonly (keyof BulkJobOptions)[]>> = {
  events: ['from_utc', 'to_utc', 'service', 'event_type'],
  deliveries: ['from_utc', 'to_utc', 'service', 'event_type', 'webhook_id', 'status'],
  webhooks: ['from_utc', 'to_utc', 'status'],
  kpis: ['from_utc', 'to_utc'],
  audit: ['from_utc', 'to_utc'],
};
const STATUS_FILTERS: Partial<Record<BulkExportTarget, readonly string[]>> = {
  deliveries: DeliveryMachine.states.map((s) => s.name),
  webhooks: WebhookMachine.states.map((s) => s.name),
};

/** A 403 unless the caller holds one of `needed` (none needed: nothing to check). */
function requireAnyPermission(caller: Caller, needed: readonly Permission[], what: string): void {
  if (needed.length === 0 || needed.some((p) => caller.permissions.includes(p))) return;
  throw AppError.forbidden(`${what} needs the permission ${needed.join(' or ')}`);
}
/**
 * The lifecycle of bulk jobs: create, commit, continue, cancel, get and list (the signed upload and
 * downloads are BulkTransfersService's). Each change fires a named transition of the BulkJobMachine
 * and commits with its audit row; `bulk.run` is enqueued only after the commit, so a worker never
 * picks up a job whose state it cannot see yet.
 */
@Injectable()
export class BulkJobsService {
  private readonly logger = new Logger(BulkJobsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repo: BulkJobsRepository,
    private readonly transfers: BulkTransfersService,
    private readonly audit: AuditService,
    private readonly pages: PageTokens,
    private readonly jobs: JobProducer,
    private readonly config: AppConfig,
  ) {}

  async createImport(caller: Caller, request: BulkImportCreateRequestDto): Promise<BulkImportCreatedDto> {
    requireAnyPermission(caller, IMPORT_PERMISSIONS[request.target], `An import of ${request.target}`);
    const options: BulkJobOptions = request.dry_run === undefined ? {} : { dry_run: request.dry_run };
    const tokenId = newUploadTokenId();
    const entity = this.newJob(caller, 'import', request.target, request.format, options, tokenId);
    await this.insert(caller, request, entity, 'bulk.import.create');
    return { job: toBulkJobDto(entity), upload_url: this.transfers.uploadUrl(entity, tokenId) };
  }

  async createExport(caller: Caller, request: BulkExportCreateRequestDto): Promise<BulkJobResultDto> {
    const target = request.target;
    requireAnyPermission(caller, EXPORT_PERMISSIONS[target], `An export of ${target}`);
    if (request.from_utc && request.to_utc && Date.parse(request.from_utc) >= Date.parse(request.to_utc)) {
      throw AppError.badRequest('from_utc must be before to_utc', 'to_utc');
    }
    const options: BulkJobOptions = {};
    const details: ErrorDetail[] = [];
    for (const key of ['from_utc', 'to_utc', 'service', 'event_type', 'webhook_id', 'status'] as const) {
      if (request[key] === undefined) continue;
      if (!EXPORT_FILTERS[target].includes(key)) {
        details.push({ field: key, message: `${key} is not a filter of an export of ${target}` });
      }
      options[key] = request[key];
    }
    const statuses = STATUS_FILTERS[target];
    if (request.status !== undefined && statuses && !statuses.includes(request.status)) {
      details.push({ field: 'status', message: `status must be one of ${statuses.join(', ')}` });
    }
    if (details.length) throw AppError.validation(details);
    const entity = this.newJob(caller, 'export', target, request.format, options, null);
    entity.status = fire(BulkJobMachine, entity.status, 'commit');
    await this.insert(caller, request, entity, 'bulk.export.create');
    await this.enqueue(entity.job_id, false);
    return { job: toBulkJobDto(entity) };
  }

  async commit(caller: Caller, request: BulkImportCommitRequestDto): Promise<BulkJobResultDto> {
    const expected = requireRevision(request.expected_revision);
    const job = await this.dataSource.transaction(async (em) => {
      const row = await this.require(caller, request.job_id, em, 'import');
      this.repo.expectRevision(row, expected);
      const to = fire(BulkJobMachine, row.status, 'commit');
      if (Number(row.upload_bytes) === 0) {
        throw AppError.unprocessable('Nothing was uploaded: PUT the file to upload_url first');
      }
      return this.change(em, caller, request, row, expected, 'bulk.import.commit', {
        status: to,
        upload_token_id: null,
        expires_at: this.expiry(),
      });
    });
    await this.enqueue(job.job_id, false);
    return { job: toBulkJobDto(job) };
  }

  /** Import: resumes after `last_processed_line`; export: from the stored cursor. */
  async continue(
    caller: Caller,
    request: BulkJobContinueRequestDto,
    jobType: 'import' | 'export',
  ): Promise<BulkJobResultDto> {
    const expected = request.expected_revision === undefined ? undefined : requireRevision(request.expected_revision);
    const job = await this.dataSource.transaction(async (em) => {
      const row = await this.require(caller, request.job_id, em, jobType);
      this.repo.expectRevision(row, expected);
      const to = fire(BulkJobMachine, row.status, 'continue');
      if (jobType === 'import' && Number(row.upload_bytes) === 0) {
        throw AppError.unprocessable('Nothing was uploaded before the job was cancelled: create a new import');
      }
      return this.change(em, caller, request, row, expected, `bulk.${jobType}.continue`, {
        status: to,
        error: null,
        finished_at: null,
        upload_token_id: null,
        expires_at: this.expiry(),
      });
    });
    await this.enqueue(job.job_id, true);
    return { job: toBulkJobDto(job) };
  }

  async cancel(caller: Caller, request: BulkJobCancelRequestDto): Promise<BulkJobResultDto> {
    const expected = request.expected_revision === undefined ? undefined : requireRevision(request.expected_revision);
    const job = await this.dataSource.transaction(async (em) => {
      const row = await this.require(caller, request.job_id, em);
      this.repo.expectRevision(row, expected);
      // A cancelled job's upload URL dies with it; the worker sees the status at its next chunk.
      return this.change(em, caller, request, row, expected, 'bulk.job.cancel', {
        status: fire(BulkJobMachine, row.status, 'cancel'),
        upload_token_id: null,
        finished_at: new Date(),
      });
    });
    return { job: toBulkJobDto(job) };
  }

  async get(caller: Caller, request: BulkJobGetRequestDto): Promise<BulkJobDetailDto> {
    const row = await this.require(caller, request.job_id);
    return { job: toBulkJobDto(row), ...(await this.transfers.fileUrls(row)) };
  }

  async list(caller: Caller, request: BulkJobListRequestDto): Promise<Page<BulkJobDto>> {
    const filters = { status: request.status, job_type: request.job_type, app: caller.app_id };
    const scope = { orgcode: caller.orgcode, resource: 'bulk.job.list', filters };
    const { limit, cursor } = this.pages.read(request, scope);
    const qb = this.repo.query(caller, 'j');
    if (request.status === 'active') qb.andWhere('j.status IN (:...active)', { active: ACTIVE_BULK_JOB_STATUSES });
    else if (request.status) qb.andWhere('j.status = :status', { status: request.status });
    if (request.job_type) qb.andWhere('j.job_type = :job_type', { job_type: request.job_type });
    const { rows, next } = await fetchKeysetPage(
      qb,
      { columns: ['j.job_id'], direction: 'DESC', cursorOf: (r) => [r.job_id] },
      cursor,
      limit,
    );
    return { items: rows.map(toBulkJobDto), next_token: this.pages.write(scope, next) };
  }

  /** Inserts a new job with its audit row. */
  private async insert(
    caller: Caller,
    request: MutationRequestDto,
    entity: BulkJobEntity,
    action: string,
  ): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await this.repo.insert(caller, entity, em);
      await recordBulkJob(this.audit, em, caller, request, action, entity, {
        target: entity.target,
        format: entity.format,
        options: entity.options,
      });
    });
  }

  private newJob(
    caller: Caller,
    jobType: BulkJobEntity['job_type'],
    target: BulkJobEntity['target'],
    format: BulkJobEntity['format'],
    options: BulkJobOptions,
    uploadTokenId: string | null,
  ): BulkJobEntity {
    const now = new Date();
    return {
      job_id: newId(IdPrefix.Job, now.getTime()),
      orgcode: caller.orgcode,
      app_id: caller.app_id,
      job_type: jobType,
      target,
      format,
      options,
      status: initialState(BulkJobMachine),
      total_lines: null,
      processed: 0,
      succeeded: 0,
      failed: 0,
      last_processed_line: 0,
      cursor: null,
      upload_bytes: '0',
      upload_token_id: uploadTokenId,
      error: null,
      started_at: null,
      finished_at: null,
      expires_at: this.expiry(now),
      created_at: now,
      created_by: caller.actor_id,
      updated_at: now,
      updated_by: caller.actor_id,
      revision: 1,
    };
  }

  private expiry(from: Date = new Date()): Date {
    return new Date(from.getTime() + this.config.BULK_FILE_TTL_DAYS * 86_400_000);
  }

  /**
   * The revisioned change of a transition already fired (`patch.status`), with its audit row: 409
   * when `expected` is stale. Returns the job as it now is.
   */
  private async change(
    em: EntityManager,
    caller: Caller,
    request: MutationRequestDto,
    row: BulkJobEntity,
    expected: number | undefined,
    action: string,
    patch: ScopedPatch<BulkJobEntity>,
  ): Promise<BulkJobEntity> {
    const updated = await this.repo.revise(
      caller,
      em,
      row,
      { job_id: row.job_id },
      {
        expected,
        actor: caller.actor_id,
        patch,
      },
    );
    await recordBulkJob(this.audit, em, caller, request, action, updated, { from: row.status, to: updated.status });
    return updated;
  }

  /** Enqueues `bulk.run` (job id = bulk job id). `again`: a finished BullMQ job of the same id is replaced. */
  private async enqueue(jobId: string, again: boolean): Promise<void> {
    // The job is queued in PostgreSQL, which is the source of truth: if Redis does not take the run
    // within a bounded wait, the sweeper re-enqueues it (job id = bulk job id: never queued twice).
    const opts = { ...BULK_RUN_JOB_OPTIONS, jobId };
    await enqueueAfterCommit(
      `bulk.run ${jobId}`,
      () =>
        again
          ? this.jobs.ensureQueued({ name: 'bulk.run', payload: { job_id: jobId }, opts })
          : this.jobs.add('bulk.run', { job_id: jobId }, opts),
      { logger: this.logger },
    );
  }

  /** The caller's job (locked FOR UPDATE with a transaction's manager), or a 404. */
  private async require(
    caller: Caller,
    jobId: string,
    em?: EntityManager,
    jobType?: BulkJobEntity['job_type'],
  ): Promise<BulkJobEntity> {
    const row = await this.repo.byId(caller, jobId, { em, jobType, ...(em ? { lock: 'update' as const } : {}) });
    if (!row) throw AppError.notFound('Bulk job');
    return row;
  }
}
