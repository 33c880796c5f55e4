import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Readable } from 'node:stream';
import type { DataSource, EntityManager } from 'typeorm';
import {
  AppConfig,
  AppError,
  ErrorCode,
  ErrorDetail,
  formatRevision,
  IdPrefix,
  MutationRequestDto,
  newId,
  Page,
  PageTokens,
  requireRevision,
  revisionMismatch,
} from '@ipm/core';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { initialState, transition } from '@ipm/lifecycle';
import { BulkJobMachine, type BulkJobStatus, DeliveryMachine, WebhookMachine } from '@ipm/lifecycle';
import { fetchKeysetPage } from '@ipm/persistence';
import { BULK_RUN_JOB_OPTIONS, enqueueAfterCommit, JobProducer } from '@ipm/queues';
import { LineCounter } from '../formats';
import { BulkExportTarget, BulkImportTarget, BulkJobEntity, BulkJobOptions } from '../jobs/bulk-job.entity';
import { BULK_STORAGE } from '../storage/bulk-storage';
import type { BulkObjectKind, BulkStorage } from '../storage/bulk-storage';
import { BulkDownload, streamDownload } from '../storage/stream-download';
import {
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
import {
  BULK_URL_REFUSALS,
  BulkUrlClaims,
  BulkUrlKind,
  BulkUrlRefusal,
  BulkUrlTokens,
  newUploadTokenId,
} from './bulk-url-tokens';

const TARGET_TYPE = 'bulk_job';

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
const DONE: readonly BulkJobStatus[] = ['completed', 'completed_with_errors'];
/** Who an upload is recorded as: the URL is the credential, there is no authenticated caller. */
export const UPLOAD_ACTOR = 'bulk.upload_url';

/** A file to send: the stream (gzipped when accepted) and how to describe it. */
export interface BulkFileResponse extends BulkDownload {
  contentType: string;
  filename: string;
}

/**
 * The api side of bulk jobs: create, upload, commit, continue, cancel, get and list. Each change
 * goes through the BulkJobMachine and commits with its audit row; `bulk.run` is enqueued only after
 * the commit, so a worker never picks up a job whose state it cannot see yet.
 */

@Injectable()
export class BulkJobsService {
  private readonly logger = new Logger(BulkJobsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(BULK_STORAGE) private readonly storage: BulkStorage,
    private readonly tokens: BulkUrlTokens,
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
    return {
      job: toBulkJobDto(entity),
      upload_url: this.tokens.uploadUrl(caller.orgcode, entity.job_id, tokenId),
    };
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
    entity.status = transition(BulkJobMachine, entity.status, 'queued');
    await this.insert(caller, request, entity, 'bulk.export.create');
    await this.enqueue(entity.job_id, false);
    return { job: toBulkJobDto(entity) };
  }

  /**
   * Streams an upload into storage part by part (never whole in memory). The token is claimed
   * first (upload_token_id cleared), so two PUTs cannot both write; a failed upload (too large,
   * empty, broken) deletes what it wrote and gives the token back, so the same URL may be retried
   * until it expires. After a successful upload the token is spent: a replay is a 401, like a forged,
   * expired or malformed URL (the message says which).
   */
  async upload(token: string, body: Readable, declaredBytes: number | undefined): Promise<BulkJobResultDto> {
    const { claims } = await this.openToken(token, ['upload']);
    if (!claims.token_id) throw AppError.unauthorized(capitalized(BULK_URL_REFUSALS.wrong_kind));
    const { orgcode, job_id: jobId, token_id: tokenId } = claims;
    const max = this.config.BULK_UPLOAD_MAX_BYTES;
    const tooLarge = (): AppError =>
      new AppError(413, ErrorCode.PayloadTooLarge, `The file is larger than the upload limit of ${max} bytes`, [
        { message: 'upload too large', limit: max },
      ]);
    if (declaredBytes !== undefined && declaredBytes > max) throw tooLarge();

    const claimed = await this.dataSource
      .createQueryBuilder()
      .update(BulkJobEntity)
      .set({ upload_token_id: null })
      .where('job_id = :jobId AND orgcode = :orgcode AND upload_token_id = :tokenId AND status = :status', {
        jobId,
        orgcode,
        tokenId,
        status: 'awaiting_upload',
      })
      .execute();
    if (!claimed.affected) {
      throw AppError.unauthorized('The upload URL was already used, or its job no longer awaits an upload');
    }

    const ref = { orgcode, jobId, kind: 'upload' as const };
    const writer = this.storage.createWriter(ref);
    const lines = new LineCounter();
    let bytes = 0;
    try {
      // destroyOnReturn: false keeps the socket open on an early stop, so the 413 still reaches the client.
      for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > max) throw tooLarge();
        lines.push(chunk);
        await writer.write(chunk);
      }
      if (bytes === 0) throw AppError.unprocessable('The upload is empty');
      await writer.finish();
      return await this.dataSource.transaction(async (em) => {
        const row = await this.lockById(em, orgcode, jobId);
        if (!row) throw AppError.notFound('Upload URL');
        if (row.status !== 'awaiting_upload') {
          throw AppError.conflict(
            `The job is ${row.status}: it no longer takes an upload`,
            ErrorCode.IllegalTransition,
          );
        }
        const patch = {
          upload_bytes: String(bytes),
          total_lines: lines.lines,
          revision: row.revision + 1,
          updated_at: new Date(),
          updated_by: UPLOAD_ACTOR,
        };
        await em.update(BulkJobEntity, { job_id: jobId, orgcode }, patch);
        const updated: BulkJobEntity = { ...row, ...patch };
        const caller: Caller = {
          kind: 'system',
          actor_id: UPLOAD_ACTOR,
          orgs: [orgcode],
          permissions: [],
          app_id: row.app_id,
          orgcode,
        };
        await this.record(em, caller, {}, 'bulk.import.upload', updated, { upload_bytes: bytes });
        return { job: toBulkJobDto(updated) };
      });
    } catch (err) {
      await writer.abort();
      await this.storage.delete(ref);
      await this.dataSource
        .createQueryBuilder()
        .update(BulkJobEntity)
        .set({ upload_token_id: tokenId })
        .where('job_id = :jobId AND orgcode = :orgcode AND upload_token_id IS NULL AND status = :status', {
          jobId,
          orgcode,
          status: 'awaiting_upload',
        })
        .execute();
      throw err;
    }
  }

  async commit(caller: Caller, request: BulkImportCommitRequestDto): Promise<BulkJobResultDto> {
    const expected = requireRevision(request.expected_revision);
    const job = await this.dataSource.transaction(async (em) => {
      const row = await this.require(caller, request.job_id, em, 'import');
      if (row.revision !== expected) throw revisionMismatch(expected, row.revision);
      const to = transition(BulkJobMachine, row.status, 'queued');
      if (Number(row.upload_bytes) === 0) {
        throw AppError.unprocessable('Nothing was uploaded: PUT the file to upload_url first');
      }
      return this.change(em, caller, request, row, 'bulk.import.commit', {
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
      if (expected !== undefined && row.revision !== expected) throw revisionMismatch(expected, row.revision);
      if (row.status !== 'failed' && row.status !== 'cancelled') {
        throw AppError.conflict(
          `Only a failed or cancelled job can continue; this one is ${row.status}`,
          ErrorCode.IllegalTransition,
          [{ field: 'status', message: `cannot continue from ${row.status}`, from: row.status, to: 'queued' }],
        );
      }
      const to = transition(BulkJobMachine, row.status, 'queued');
      if (jobType === 'import' && Number(row.upload_bytes) === 0) {
        throw AppError.unprocessable('Nothing was uploaded before the job was cancelled: create a new import');
      }
      return this.change(em, caller, request, row, `bulk.${jobType}.continue`, {
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
      if (expected !== undefined && row.revision !== expected) throw revisionMismatch(expected, row.revision);
      const to = transition(BulkJobMachine, row.status, 'cancelled');
      // A cancelled job's upload URL dies with it; the worker sees the status at its next chunk.
      return this.change(em, caller, request, row, 'bulk.job.cancel', {
        status: to,
        upload_token_id: null,
        finished_at: new Date(),
      });
    });
    return { job: toBulkJobDto(job) };
  }

  async get(caller: Caller, request: BulkJobGetRequestDto): Promise<BulkJobDetailDto> {
    const row = await this.require(caller, request.job_id);
    const result: BulkJobDetailDto = { job: toBulkJobDto(row) };
    if (row.status === 'expired') return result;
    if (row.job_type === 'export' && DONE.includes(row.status)) {
      result.download_url = this.tokens.fileUrl('export', row.orgcode, row.job_id);
    }
    if ((await this.storage.size({ orgcode: row.orgcode, jobId: row.job_id, kind: 'report' })).parts > 0) {
      result.report_url = this.tokens.fileUrl('report', row.orgcode, row.job_id);
    }
    return result;
  }

  async list(caller: Caller, request: BulkJobListRequestDto): Promise<Page<BulkJobDto>> {
    const filters = { status: request.status, job_type: request.job_type, app: caller.app_id };
    const scope = { orgcode: caller.orgcode, resource: 'bulk.job.list', filters };
    const { limit, cursor } = this.pages.read(request, scope);
    const qb = this.dataSource
      .getRepository(BulkJobEntity)
      .createQueryBuilder('j')
      .where('j.orgcode = :orgcode', { orgcode: caller.orgcode });
    if (caller.app_id) qb.andWhere('j.app_id = :app', { app: caller.app_id });
    if (request.status) qb.andWhere('j.status = :status', { status: request.status });
    if (request.job_type) qb.andWhere('j.job_type = :job_type', { job_type: request.job_type });
    const { rows, next } = await fetchKeysetPage(
      qb,
      { columns: ['j.job_id'], direction: 'DESC', cursorOf: (r) => [r.job_id] },
      cursor,
      limit,
    );
    return { items: rows.map(toBulkJobDto), next_token: this.pages.write(scope, next) };
  }

  /** The file a signed `/bulk/file/<token>` URL opens: 401 for a bad, expired or foreign token, 404 when the file is gone. */
  async file(token: string, acceptEncoding: string | undefined): Promise<BulkFileResponse> {
    const { claims, row } = await this.openToken(token, ['report', 'export']);
    if (row.status === 'expired') throw AppError.notFound('File');
    const kind: BulkObjectKind = claims.kind === 'export' ? 'export' : 'report';
    const ref = { orgcode: row.orgcode, jobId: row.job_id, kind };
    if (kind === 'export' && (row.job_type !== 'export' || !DONE.includes(row.status))) {
      throw AppError.notFound('File');
    }
    if (kind === 'report' && (await this.storage.size(ref)).parts === 0) throw AppError.notFound('File');
    const csv = kind === 'export' && row.format === 'csv';
    return {
      ...streamDownload(this.storage, ref, acceptEncoding),
      contentType: csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      filename: `${row.job_id}-${kind}.${csv ? 'csv' : 'ndjson'}`,
    };
  }

  /**
   * A genuine, unexpired token of one of `kinds`, checked against the tenant of the job it names,
   * with that job; otherwise a 401 saying why (malformed, not genuine, another kind, expired).
   */
  private async openToken(
    token: string,
    kinds: readonly BulkUrlKind[],
  ): Promise<{ claims: BulkUrlClaims; row: BulkJobEntity }> {
    const jobId = this.tokens.jobIdOf(token);
    if (!jobId) throw AppError.unauthorized(capitalized(BULK_URL_REFUSALS.malformed));
    const row = await this.dataSource.manager.findOne(BulkJobEntity, { where: { job_id: jobId } });
    // No such job reads as a bad signature: a token names a job, and nothing here may tell which jobs exist.
    if (!row) throw AppError.unauthorized(capitalized(BULK_URL_REFUSALS.forged));
    let refusal: BulkUrlRefusal = 'wrong_kind';
    for (const kind of kinds) {
      const checked = this.tokens.check(token, kind, row.orgcode);
      if (checked.ok) return { claims: checked.claims, row };
      if (checked.reason !== 'wrong_kind') refusal = checked.reason;
    }
    throw AppError.unauthorized(capitalized(BULK_URL_REFUSALS[refusal]));
  }

  /** Inserts a new job with its audit row. */
  private async insert(
    caller: Caller,
    request: MutationRequestDto,
    entity: BulkJobEntity,
    action: string,
  ): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await em.insert(BulkJobEntity, entity);
      await this.record(em, caller, request, action, entity, {
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

  /** Applies `patch` with a new revision and its audit row; returns the job as it now is. */
  private async change(
    em: EntityManager,
    caller: Caller,
    request: MutationRequestDto,
    row: BulkJobEntity,
    action: string,
    patch: Partial<BulkJobEntity> & { status: BulkJobStatus },
  ): Promise<BulkJobEntity> {
    const full = { ...patch, revision: row.revision + 1, updated_at: new Date(), updated_by: caller.actor_id };
    await em.update(BulkJobEntity, { job_id: row.job_id, orgcode: row.orgcode }, full);
    const updated: BulkJobEntity = { ...row, ...full };
    await this.record(em, caller, request, action, updated, { from: row.status, to: updated.status });
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
    const row = await (em ?? this.dataSource.manager).findOne(BulkJobEntity, {
      where: {
        job_id: jobId,
        orgcode: caller.orgcode,
        ...(caller.app_id ? { app_id: caller.app_id } : {}),
        ...(jobType ? { job_type: jobType } : {}),
      },
      ...(em ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
    if (!row) throw AppError.notFound('Bulk job');
    return row;
  }

  /** A job by id within its tenant, locked FOR UPDATE until `em`'s transaction ends. */
  private lockById(em: EntityManager, orgcode: string, jobId: string): Promise<BulkJobEntity | null> {
    return em.findOne(BulkJobEntity, { where: { job_id: jobId, orgcode }, lock: { mode: 'pessimistic_write' } });
  }

  private record(
    em: EntityManager,
    caller: Caller,
    request: MutationRequestDto,
    action: string,
    job: BulkJobEntity,
    metadata: Record<string, unknown>,
  ): Promise<string> {
    return this.audit.record(em, caller, request, {
      action,
      target_type: TARGET_TYPE,
      target_id: job.job_id,
      metadata: { ...metadata, job_type: job.job_type, revision: formatRevision(job.revision) },
    });
  }
}

export function toBulkJobDto(j: BulkJobEntity): BulkJobDto {
  const done = DONE.includes(j.status);
  // An import moves through the file's lines (the upload counted them); an export through its rows.
  const position = j.job_type === 'import' ? j.last_processed_line : j.processed;
  const progress = done ? 1 : j.total_lines ? Math.min(1, Math.max(0, position / j.total_lines)) : 0;
  return {
    job_id: j.job_id,
    orgcode: j.orgcode,
    app_id: j.app_id,
    job_type: j.job_type,
    target: j.target,
    format: j.format,
    status: j.status,
    options: j.options,
    total_lines: j.total_lines,
    processed: j.processed,
    succeeded: j.succeeded,
    failed: j.failed,
    progress,
    last_processed_line: j.last_processed_line,
    cursor: j.cursor,
    upload_bytes: Number(j.upload_bytes),
    error: j.error,
    started_at: j.started_at?.toISOString() ?? null,
    finished_at: j.finished_at?.toISOString() ?? null,
    expires_at: j.expires_at.toISOString(),
    created_at: j.created_at.toISOString(),
    created_by: j.created_by,
    updated_at: j.updated_at.toISOString(),
    updated_by: j.updated_by,
    revision: formatRevision(j.revision),
  };
}

function capitalized(message: string): string {
  return message.charAt(0).toUpperCase() + message.slice(1);
}
