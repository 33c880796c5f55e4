import type { DataSource } from 'typeorm';
import { IdPrefix, newId } from '@ipm/core';
import {
  BulkJobEntity,
  type BulkExportTarget,
  type BulkFormat,
  type BulkImportTarget,
  type BulkJobOptions,
} from '@ipm/bulk';
import type { BulkObjectRef, BulkStorage } from '@ipm/bulk';

/** A bulk job written straight to PostgreSQL, `queued`, for tests that run the worker's runner. */
export interface BulkJobFixture {
  orgcode: string;
  target: BulkImportTarget | BulkExportTarget;
  job_type?: 'import' | 'export';
  format?: BulkFormat;
  options?: BulkJobOptions;
  app_id?: string | null;
  created_by?: string;
  /** The upload's content (an import's file); none for an export. */
  content?: string | Buffer | null;
}

export interface ReportLine {
  line: number;
  error: string;
  raw: string;
}

/** Inserts the job and writes its upload in odd-sized pieces, as an HTTP body arrives; returns its id. */
export async function insertBulkJob(ds: DataSource, storage: BulkStorage, f: BulkJobFixture): Promise<string> {
  const job_id = newId(IdPrefix.Job);
  const now = new Date();
  const actor = f.created_by ?? 'user_importer';
  await ds.getRepository(BulkJobEntity).insert({
    job_id,
    orgcode: f.orgcode,
    app_id: f.app_id ?? null,
    job_type: f.job_type ?? 'import',
    target: f.target,
    format: f.format ?? 'ndjson',
    options: f.options ?? {},
    status: 'queued',
    total_lines: null,
    cursor: null,
    upload_token_id: null,
    error: null,
    started_at: null,
    finished_at: null,
    expires_at: new Date(now.getTime() + 86_400_000),
    created_at: now,
    created_by: actor,
    updated_at: now,
    updated_by: actor,
    revision: 2,
  });
  if (f.content !== undefined && f.content !== null) {
    const writer = storage.createWriter({ orgcode: f.orgcode, jobId: job_id, kind: 'upload' });
    const bytes = typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : f.content;
    for (let i = 0; i < bytes.length; i += 333) await writer.write(bytes.subarray(i, i + 333));
    await writer.finish();
  }
  return job_id;
}

/** A stored object's bytes. */
export async function readBulkObject(storage: BulkStorage, ref: BulkObjectRef): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const part of storage.read(ref)) chunks.push(part);
  return Buffer.concat(chunks);
}

/** A job's per-line report, parsed. */
export async function readReport(storage: BulkStorage, orgcode: string, jobId: string): Promise<ReportLine[]> {
  const text = (await readBulkObject(storage, { orgcode, jobId, kind: 'report' })).toString('utf8');
  return text === ''
    ? []
    : text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as ReportLine);
}
