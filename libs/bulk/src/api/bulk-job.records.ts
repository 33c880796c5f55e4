import type { EntityManager } from 'typeorm';
import { formatRevision, type MutationRequestDto } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import type { AuditService } from '@ipm/audit';
import type { BulkJobStatus } from '@ipm/lifecycle';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import type { BulkJobDto } from './bulk.dto';

const TARGET_TYPE = 'bulk_job';

/** The states whose export file can be downloaded and whose progress is whole. */
export const DONE: readonly BulkJobStatus[] = ['completed', 'completed_with_errors'];

/** A job's audit row, in the transaction that changes it (`em`). */
export function recordBulkJob(
  audit: AuditService,
  em: EntityManager,
  caller: Caller,
  request: MutationRequestDto,
  action: string,
  job: BulkJobEntity,
  metadata: Record<string, unknown>,
): Promise<string> {
  return audit.record(em, caller, request, {
    action,
    target_type: TARGET_TYPE,
    target_id: job.job_id,
    metadata: { ...metadata, job_type: job.job_type, revision: formatRevision(job.revision) },
  });
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
