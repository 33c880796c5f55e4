import type { Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { AppConfigModule, IdPrefix, newId } from '@ipm/core';
import { PersistenceModule } from '@ipm/persistence';
import { QueuesModule } from '@ipm/queues';
import {
  BulkJobEntity,
  BulkWorkerModule,
  PgBulkStorage,
  type BulkExportTarget,
  type BulkFormat,
  type BulkImportTarget,
  type BulkJobOptions,
} from '@ipm/bulk';
import type { BulkObjectRef, BulkStorage } from '@ipm/bulk';

/** A bulk module compiled against the real PostgreSQL and Redis, for the runner and maintenance specs. */
export interface BulkModuleFixture {
  moduleRef: TestingModule;
  ds: DataSource;
  storage: PgBulkStorage;
}

/**
 * Compiles and starts `module` (the worker's BulkWorkerModule unless told) beside the config,
 * persistence and queues modules, as the worker does (QueuesModule is global there: the webhooks
 * target's scheduler produces jobs); its storage writes parts of `partSize` bytes when given.
 * The caller closes `moduleRef`.
 */
export async function compileBulkModule(
  options: { module?: Type<unknown>; partSize?: number } = {},
): Promise<BulkModuleFixture> {
  const moduleRef = await Test.createTestingModule({
    imports: [AppConfigModule, PersistenceModule, QueuesModule, options.module ?? BulkWorkerModule],
  }).compile();
  await moduleRef.init();
  const ds = moduleRef.get(DataSource);
  const storage =
    options.partSize === undefined ? new PgBulkStorage(ds) : new PgBulkStorage(ds, { partSize: options.partSize });
  return { moduleRef, ds, storage };
}

/** A job's row as it is now. */
export const loadBulkJob = (ds: DataSource, job_id: string): Promise<BulkJobEntity> =>
  ds.getRepository(BulkJobEntity).findOneByOrFail({ job_id });

/** An NDJSON file of `rows`: objects as JSON, strings as they are, each line ended. */
export const ndjson = (rows: readonly unknown[]): string =>
  rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
/** A CSV field, quoted. */
export const csvField = (s: string): string => `"${s.replace(/"/g, '""')}"`;
/** `n` numbers from `from` on. */
export const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);

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

/** What a runner spec varies in a job it inserts (the org its own unless told). */
export type BulkJobSpec = Pick<BulkJobFixture, 'job_type' | 'format' | 'options' | 'app_id'> & { org?: string };

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
