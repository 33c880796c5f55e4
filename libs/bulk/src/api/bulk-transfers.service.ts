import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Readable } from 'node:stream';
import type { DataSource } from 'typeorm';
import { AppConfig, AppError, ErrorCode } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { BulkJobMachine, canFire } from '@ipm/lifecycle';
import { acrossTenants, type TenantScope } from '@ipm/persistence';
import { LineCounter } from '../formats';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import { BulkJobsRepository } from '../jobs/bulk-jobs.repository';
import { BULK_STORAGE } from '../storage/bulk-storage';
import type { BulkObjectKind, BulkStorage } from '../storage/bulk-storage';
import { BulkDownload, streamDownload } from '../storage/stream-download';
import type { BulkJobResultDto } from './bulk.dto';
import { DONE, recordBulkJob, toBulkJobDto } from './bulk-job.records';
import { BULK_URL_REFUSALS, BulkUrlClaims, BulkUrlKind, BulkUrlRefusal, BulkUrlTokens } from './bulk-url-tokens';

/** Who an upload is recorded as: the URL is the credential, there is no authenticated caller. */
export const UPLOAD_ACTOR = 'bulk.upload_url';

/** A file to send: the stream (gzipped when accepted) and how to describe it. */
export interface BulkFileResponse extends BulkDownload {
  contentType: string;
  filename: string;
}

/** The signed URLs a job detail shows, when their files exist. */
export interface BulkFileUrls {
  download_url?: string;
  report_url?: string;
}

/**
 * The signed transfers of bulk jobs: the single-use upload URL and the upload it takes, and the
 * export and report URLs and the downloads they open. The URL is the credential; its tenant is
 * checked against the job it names.
 */
@Injectable()
export class BulkTransfersService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: BulkJobsRepository,
    @Inject(BULK_STORAGE) private readonly storage: BulkStorage,
    private readonly tokens: BulkUrlTokens,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  /** The signed, single-use upload URL of a new import. */
  uploadUrl(job: BulkJobEntity, tokenId: string): string {
    return this.tokens.uploadUrl(job.orgcode, job.job_id, tokenId);
  }

  /** The export's download URL (once done) and the report's (once it has lines); none once expired. */
  async fileUrls(row: BulkJobEntity): Promise<BulkFileUrls> {
    const urls: BulkFileUrls = {};
    if (row.status === 'expired') return urls;
    if (row.job_type === 'export' && DONE.includes(row.status)) {
      urls.download_url = this.tokens.fileUrl('export', row.orgcode, row.job_id);
    }
    if ((await this.storage.size({ orgcode: row.orgcode, jobId: row.job_id, kind: 'report' })).parts > 0) {
      urls.report_url = this.tokens.fileUrl('report', row.orgcode, row.job_id);
    }
    return urls;
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
    const scope: TenantScope = { orgcode };
    const max = this.config.BULK_UPLOAD_MAX_BYTES;
    const tooLarge = (): AppError =>
      new AppError(413, ErrorCode.PayloadTooLarge, `The file is larger than the upload limit of ${max} bytes`, [
        { message: 'upload too large', limit: max },
      ]);
    if (declaredBytes !== undefined && declaredBytes > max) throw tooLarge();

    if (!(await this.jobs.claimUploadToken(scope, jobId, tokenId))) {
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
        const row = await this.jobs.byId(scope, jobId, { em, lock: 'update' });
        if (!row) throw AppError.notFound('Upload URL');
        // An upload precedes the commit: a job that can no longer be committed takes none.
        if (!canFire(BulkJobMachine, row.status, 'commit')) {
          throw AppError.conflict(
            `The job is ${row.status}: it no longer takes an upload`,
            ErrorCode.IllegalTransition,
          );
        }
        const updated = await this.jobs.revise(
          scope,
          em,
          row,
          { job_id: jobId },
          {
            actor: UPLOAD_ACTOR,
            patch: { upload_bytes: String(bytes), total_lines: lines.lines },
          },
        );
        const caller: Caller = {
          kind: 'system',
          actor_id: UPLOAD_ACTOR,
          orgs: [orgcode],
          permissions: [],
          app_id: row.app_id,
          orgcode,
        };
        await recordBulkJob(this.audit, em, caller, {}, 'bulk.import.upload', updated, { upload_bytes: bytes });
        return { job: toBulkJobDto(updated) };
      });
    } catch (err) {
      await writer.abort();
      await this.storage.delete(ref);
      await this.jobs.returnUploadToken(scope, jobId, tokenId);
      throw err;
    }
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
    const row = await acrossTenants(
      'a signed URL names its job by id; the token is checked against its tenant next',
      () => this.jobs.byIdInAnyTenant(jobId),
    );
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
}

function capitalized(message: string): string {
  return message.charAt(0).toUpperCase() + message.slice(1);
}
