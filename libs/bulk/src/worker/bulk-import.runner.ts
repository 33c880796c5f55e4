import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '@ipm/core';
import { transition } from '@ipm/lifecycle/lifecycle';
import { BulkJobMachine, type BulkJobStatus } from '@ipm/lifecycle/machines';
import { BulkRunJob, JobContext, JobHandler } from '@ipm/queues';
import { BulkFormatError, type ReportEntry, reportLine, SNIFF_BYTES, sniffFormat } from '../formats';
import { BulkJobEntity } from '../jobs/bulk-job.entity';
import { BULK_STORAGE, type BulkObjectRef, type BulkStorage } from '../storage/bulk-storage';
import { EventImport } from './event-import';
import { type CsvShape, checkCsvColumns, type ImportRecord, importRecords } from './import-records';

/** Who the worker's status changes are recorded as (`updated_by`). */
export const BULK_WORKER_ACTOR = 'ipm-bulk-worker';

/** What a run may be told: the worker's abort signal (shutdown). */
export interface BulkJobContext {
  signal?: AbortSignal;
}

export type BulkRunOutcome = BulkJobStatus | 'missing' | 'superseded';

/** A target's side of an import: how its CSV reads and how a chunk of records lands. */
interface ImportTarget {
  csv: CsvShape;
  apply(
    em: EntityManager,
    job: BulkJobEntity,
    records: readonly ImportRecord[],
  ): Promise<{ succeeded: number; errors: ReportEntry[] }>;
}

/** Why the chunk loop stopped early: the job left `running` (cancel) or another run moved its checkpoint. */
class Stopped extends Error {
  constructor(readonly outcome: BulkRunOutcome) {
    super(`bulk job stopped: ${outcome}`);
  }
}

/** The job failed for a reason that belongs in its `error` (not the declared format, no such target...). */
class JobFailure extends Error {}

/**
 * The `bulk.run` job for imports: streams the upload from BulkStorage, parses it (NDJSON or CSV)
 * and applies BULK_CHUNK_LINES records per transaction. Each transaction also appends the chunk's
 * bad lines to the report and moves the checkpoint (`last_processed_line`) and the counters, so a
 * run killed anywhere resumes after the last committed chunk: no line applied twice, none skipped.
 * The job row is locked and re-read at every chunk, so a cancel takes effect between chunks.
 */
@Injectable()
export class BulkImportRunner {
  private readonly logger = new Logger(BulkImportRunner.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(BULK_STORAGE) private readonly storage: BulkStorage,
    private readonly config: AppConfig,
    private readonly events: EventImport,
  ) {}

  @JobHandler('bulk.run')
  run(payload: BulkRunJob, ctx?: JobContext<'bulk.run'>): Promise<BulkRunOutcome> {
    return this.runJob(payload.job_id, { signal: ctx?.signal });
  }

  /** Runs one job from its checkpoint; a no-op unless it is `queued` (or `running`, after a crash). */
  async runJob(jobId: string, ctx: BulkJobContext = {}): Promise<BulkRunOutcome> {
    const job = await this.dataSource.getRepository(BulkJobEntity).findOneBy({ job_id: jobId });
    if (!job) {
      this.logger.warn(`bulk job ${jobId} does not exist; nothing to do`);
      return 'missing';
    }
    if (job.status !== 'queued' && job.status !== 'running') return job.status;
    if (job.status === 'queued' && !(await this.start(job))) return this.statusOf(jobId);
    try {
      if (job.job_type === 'export') throw new JobFailure('export is not available yet');
      return await this.importFile(job, this.targetOf(job), ctx);
    } catch (err) {
      if (err instanceof Stopped) return err.outcome;
      if (!(err instanceof JobFailure) && !(err instanceof BulkFormatError)) throw err;
      await this.fail(job, err.message);
      return 'failed';
    }
  }

  private targetOf(job: BulkJobEntity): ImportTarget {
    switch (job.target) {
      case 'events':
        return this.events;
      case 'kpis':
        throw new JobFailure('kpis import is not available yet');
      default:
        throw new JobFailure(`${job.target} import is not available yet`);
    }
  }

  private async importFile(job: BulkJobEntity, target: ImportTarget, ctx: BulkJobContext): Promise<BulkRunOutcome> {
    const ref: BulkObjectRef = { orgcode: job.orgcode, jobId: job.job_id, kind: 'upload' };
    const sample = await this.head(ref);
    const sniffed = sniffFormat(sample, job.format);
    if (!sniffed.ok) throw new JobFailure(`not a valid ${job.format.toUpperCase()} file: ${sniffed.reason}`);
    if (job.format === 'csv') checkCsvColumns(sample, target.csv);

    const chunkLines = this.config.BULK_CHUNK_LINES;
    let checkpoint = job.last_processed_line;
    let chunk: ImportRecord[] = [];
    for await (const record of importRecords(this.storage.read(ref), job.format, target.csv)) {
      if (record.line <= checkpoint) continue;
      chunk.push(record);
      if (chunk.length < chunkLines) continue;
      checkpoint = await this.commitChunk(job.job_id, checkpoint, chunk, target, false);
      chunk = [];
      if (ctx.signal?.aborted) await this.interrupt(job, checkpoint);
    }
    await this.commitChunk(job.job_id, checkpoint, chunk, target, true);
    return this.statusOf(job.job_id);
  }

  /**
   * One transaction: the chunk's records applied, its bad lines appended to the report, the
   * counters and the checkpoint moved (and, for the last chunk, the final status). Returns the
   * new checkpoint.
   */
  private commitChunk(
    jobId: string,
    expected: number,
    records: readonly ImportRecord[],
    target: ImportTarget,
    last: boolean,
  ): Promise<number> {
    return this.dataSource.transaction(async (em) => {
      const job = await em.findOne(BulkJobEntity, { where: { job_id: jobId }, lock: { mode: 'pessimistic_write' } });
      if (!job) throw new Stopped('missing');
      if (job.status !== 'running') throw new Stopped(job.status);
      // Another run of the same job (a stalled job handed on) got here first: leave it to that one.
      if (job.last_processed_line !== expected) throw new Stopped('superseded');

      const good = records.filter((r) => r.error === undefined);
      const applied = good.length ? await target.apply(em, job, good) : { succeeded: 0, errors: [] };
      const errors = [
        ...records
          .filter((r) => r.error !== undefined)
          .map((r): ReportEntry => ({ line: r.line, error: r.error ?? '', raw: r.raw, rawBytes: r.rawBytes })),
        ...applied.errors,
      ].sort((a, b) => a.line - b.line);
      if (errors.length) await this.appendReport(em, job, errors);

      const checkpoint = records.length ? records[records.length - 1].line : expected;
      const failed = job.failed + errors.length;
      const changes: Partial<BulkJobEntity> = {
        processed: job.processed + records.length,
        succeeded: job.succeeded + applied.succeeded,
        failed,
        last_processed_line: checkpoint,
        updated_at: new Date(),
      };
      if (last) {
        Object.assign(changes, this.statusChange(job, failed > 0 ? 'completed_with_errors' : 'completed'), {
          total_lines: job.processed + records.length,
          finished_at: new Date(),
        });
      }
      await em.update(BulkJobEntity, { job_id: jobId }, changes);
      return checkpoint;
    });
  }

  /** Appends report lines after the parts already committed (a rolled-back chunk's parts rolled back too). */
  private async appendReport(em: EntityManager, job: BulkJobEntity, errors: readonly ReportEntry[]): Promise<void> {
    const ref: BulkObjectRef = { orgcode: job.orgcode, jobId: job.job_id, kind: 'report' };
    const startAt = ((await this.storage.lastPart(ref, em)) ?? -1) + 1;
    const writer = this.storage.createWriter(ref, { startAt });
    await writer.write(Buffer.from(errors.map(reportLine).join(''), 'utf8'), em);
    await writer.finish(em);
  }

  /** The first SNIFF_BYTES of the upload (fewer when it is smaller). */
  private async head(ref: BulkObjectRef): Promise<Buffer> {
    const parts: Buffer[] = [];
    let bytes = 0;
    for await (const part of this.storage.read(ref)) {
      parts.push(part);
      bytes += part.length;
      if (bytes >= SNIFF_BYTES) break;
    }
    return Buffer.concat(parts, bytes).subarray(0, SNIFF_BYTES);
  }

  private statusChange(job: BulkJobEntity, to: BulkJobStatus): Partial<BulkJobEntity> {
    return {
      status: transition(BulkJobMachine, job.status, to),
      revision: job.revision + 1,
      updated_at: new Date(),
      updated_by: BULK_WORKER_ACTOR,
    };
  }

  /** queued -> running, unless something else changed the job meanwhile (a cancel). */
  private async start(job: BulkJobEntity): Promise<boolean> {
    const changes = { ...this.statusChange(job, 'running'), started_at: job.started_at ?? new Date() };
    const result = await this.dataSource
      .getRepository(BulkJobEntity)
      .update({ job_id: job.job_id, status: job.status, revision: job.revision }, changes);
    if (result.affected !== 1) return false;
    Object.assign(job, changes);
    return true;
  }

  /** running -> `to` with the fields given, if the job is still running. */
  private async leaveRunning(jobId: string, to: BulkJobStatus, fields: Partial<BulkJobEntity>): Promise<boolean> {
    return this.dataSource.transaction(async (em) => {
      const job = await em.findOne(BulkJobEntity, { where: { job_id: jobId }, lock: { mode: 'pessimistic_write' } });
      if (!job || job.status !== 'running') return false;
      await em.update(BulkJobEntity, { job_id: jobId }, { ...this.statusChange(job, to), ...fields });
      return true;
    });
  }

  private async fail(job: BulkJobEntity, error: string): Promise<void> {
    this.logger.warn(`bulk job ${job.job_id} failed: ${error}`);
    await this.leaveRunning(job.job_id, 'failed', { error, finished_at: new Date() });
  }

  /** Shutdown between chunks: back to `queued`, and a throw so that BullMQ runs the job again. */
  private async interrupt(job: BulkJobEntity, checkpoint: number): Promise<never> {
    await this.leaveRunning(job.job_id, 'queued', {});
    throw new Error(`bulk job ${job.job_id} interrupted by shutdown after line ${checkpoint}; it resumes from there`);
  }

  private async statusOf(jobId: string): Promise<BulkRunOutcome> {
    const job = await this.dataSource.getRepository(BulkJobEntity).findOneBy({ job_id: jobId });
    return job?.status ?? 'missing';
  }
}
