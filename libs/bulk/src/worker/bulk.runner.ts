import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { Caller } from '@ipm/auth';
import { AppConfig, AppError, ErrorCode } from '@ipm/core';
import { PlatformEvents } from '@ipm/events';
import { canFire, fire, sourcesOf } from '@ipm/lifecycle';
import { BulkJobMachine, type BulkJobStatus, type BulkJobTransition } from '@ipm/lifecycle';
import { acrossTenants, type ScopedPatch, type TenantScope } from '@ipm/persistence';
import { JobHandler } from '@ipm/queues';
import type { BulkRunJob, JobContext } from '@ipm/queues';
import {
  BulkFormatError,
  csvHeader,
  csvRow,
  ndjsonLine,
  type ReportEntry,
  reportLine,
  SNIFF_BYTES,
  sniffFormat,
} from '../formats';
import { BulkMetrics } from '../bulk-metrics';
import { BulkJobEntity } from '../jobs/bulk-job.entity';
import { BulkJobsRepository } from '../jobs/bulk-jobs.repository';
import { BULK_STORAGE, type BulkObjectRef, type BulkStorage } from '../storage/bulk-storage';
import { BulkTargets } from './bulk-targets';
import { checkCsvColumns, type ImportRecord, importRecords } from './import-records';
import type { ChunkWrite, ExportSource, ImportTarget } from './targets';

/** Who the worker's status changes are recorded as (`updated_by`). */
export const BULK_WORKER_ACTOR = 'ipm-bulk-worker';

/** What a run may be told: the worker's abort signal (shutdown). */
export interface BulkJobContext {
  signal?: AbortSignal;
}

/** Where a run takes a job up: queued (it starts it) or running (a run that died mid-way, from its checkpoint). */
const RUNNABLE: readonly BulkJobStatus[] = [
  ...sourcesOf(BulkJobMachine, 'start'),
  ...sourcesOf(BulkJobMachine, 'fail'),
];

export type BulkRunOutcome = BulkJobStatus | 'missing' | 'superseded';

/** Why the chunk loop stopped early: the job left `running` (cancel) or another run moved its checkpoint. */
class Stopped extends Error {
  constructor(readonly outcome: BulkRunOutcome) {
    super(`bulk job stopped: ${outcome}`);
  }
}

/** An export page, encoded: the part's bytes (null when there are none), its row count and the cursor after it. */
interface ExportChunk {
  data: Buffer | null;
  count: number;
  cursor: string | null;
}

/** The job failed for a reason that belongs in its `error` (not the declared format, no such target...). */
class JobFailure extends Error {}

/**
 * The `bulk.run` job. An import streams the upload from BulkStorage, parses it (NDJSON or CSV) and
 * applies BULK_CHUNK_LINES records per transaction; each transaction also appends the chunk's bad
 * lines to the report and moves the checkpoint (`last_processed_line`) and the counters. An export
 * reads BULK_CHUNK_LINES rows per transaction from its source and writes them as one part of the
 * file, with the keyset `cursor` and the counters. Either way a run killed anywhere resumes after
 * the last committed chunk: no line applied or written twice, none skipped. The job row is locked
 * and re-read at every chunk, so a cancel takes effect between chunks. The last chunk sets the
 * final status and emits `ipm.bulk.job.completed` in the same transaction (`ipm.bulk.job.failed`
 * when the job fails).
 */
@Injectable()
export class BulkRunner {
  private readonly logger = new Logger(BulkRunner.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(BULK_STORAGE) private readonly storage: BulkStorage,
    private readonly config: AppConfig,
    private readonly targets: BulkTargets,
    private readonly platformEvents: PlatformEvents,
    private readonly metrics: BulkMetrics,
    private readonly jobs: BulkJobsRepository,
  ) {}

  @JobHandler('bulk.run')
  run(payload: BulkRunJob, ctx?: JobContext<'bulk.run'>): Promise<BulkRunOutcome> {
    return this.runJob(payload.job_id, { signal: ctx?.signal });
  }

  /** Runs one job from its checkpoint; a no-op unless it is `queued` (or `running`, after a crash). */
  async runJob(jobId: string, ctx: BulkJobContext = {}): Promise<BulkRunOutcome> {
    const job = await acrossTenants('bulk.run names its job by id alone; every later statement is its tenant’s', () =>
      this.jobs.byIdInAnyTenant(jobId),
    );
    if (!job) {
      this.logger.warn(`bulk job ${jobId} does not exist; nothing to do`);
      return 'missing';
    }
    // Queued: this run starts it; running: a run that died mid-way is taken up from its checkpoint.
    if (!RUNNABLE.includes(job.status)) return job.status;
    if (canFire(BulkJobMachine, job.status, 'start') && !(await this.start(job))) return this.statusOf(job);
    try {
      if (job.job_type === 'export') return await this.exportRows(job, this.sourceOf(job), ctx);
      return await this.importFile(job, this.targetOf(job), ctx);
    } catch (err) {
      // Cancelled and continued while this run was inside a chunk: the continue found this BullMQ job
      // still active and enqueued nothing, so this run takes the job up again from its checkpoint.
      if (err instanceof Stopped && err.outcome === 'queued' && !ctx.signal?.aborted) return this.runJob(jobId, ctx);
      if (err instanceof Stopped) return err.outcome;
      if (!(err instanceof JobFailure) && !(err instanceof BulkFormatError)) throw err;
      await this.fail(job, err.message);
      return 'failed';
    }
  }

  private targetOf(job: BulkJobEntity): ImportTarget {
    const target = this.targets.importTarget(job.target);
    if (!target) throw new JobFailure(`${job.target} is not an import target`);
    return target;
  }

  private sourceOf(job: BulkJobEntity): ExportSource {
    const source = this.targets.exportSource(job.target);
    if (!source) throw new JobFailure(`${job.target} is not an export target`);
    return source;
  }

  private async importFile(job: BulkJobEntity, target: ImportTarget, ctx: BulkJobContext): Promise<BulkRunOutcome> {
    const ref: BulkObjectRef = { orgcode: job.orgcode, jobId: job.job_id, kind: 'upload' };
    const sample = await this.head(ref);
    const sniffed = sniffFormat(sample, job.format);
    if (!sniffed.ok) throw new JobFailure(`not a valid ${job.format.toUpperCase()} file: ${sniffed.reason}`);
    if (job.format === 'csv') checkCsvColumns(sample, target.csv);

    // A pipeline of two: while chunk N commits, the lines of chunk N+1 are read, parsed and prepared
    // (shape and schema checks, encoding), so the worker's CPU and PostgreSQL work at the same time.
    // Chunk N+1's transaction starts only once N has committed, from N's checkpoint.
    const chunkLines = this.config.BULK_CHUNK_LINES;
    const resumeAfter = job.last_processed_line;
    let checkpoint = resumeAfter;
    let committing: Promise<number> | undefined;
    const submit = async (records: readonly ImportRecord[], last: boolean): Promise<void> => {
      let write: ChunkWrite;
      try {
        write = await this.prepareChunk(job, target, records);
      } catch (err) {
        await committing?.catch(() => undefined);
        throw err;
      }
      if (committing) {
        checkpoint = await committing;
        committing = undefined;
        if (ctx.signal?.aborted) await this.interrupt(job, checkpoint);
      }
      committing = this.commitChunk(job, checkpoint, records, write, last);
      // Awaited by the next submit (or below); until then a failure must not count as unhandled.
      committing.catch(() => undefined);
    };
    const chunkBytes = this.config.BULK_CHUNK_BYTES;
    try {
      let chunk: ImportRecord[] = [];
      let bytes = 0;
      for await (const record of importRecords(this.storage.read(ref), job.format, target.csv)) {
        if (record.line <= resumeAfter) continue;
        chunk.push(record);
        bytes += record.rawBytes;
        if (chunk.length < chunkLines && bytes < chunkBytes) continue;
        await submit(chunk, false);
        chunk = [];
        bytes = 0;
      }
      await submit(chunk, true);
      await committing;
    } finally {
      await committing?.catch(() => undefined);
    }
    return this.statusOf(job);
  }

  /** What a chunk's transaction will do with its good records (prepared ahead when the target can). */
  private async prepareChunk(
    job: BulkJobEntity,
    target: ImportTarget,
    records: readonly ImportRecord[],
  ): Promise<ChunkWrite> {
    const good = records.filter((r) => r.error === undefined);
    if (good.length === 0) return () => Promise.resolve({ succeeded: 0, errors: [] });
    if (target.prepare) return target.prepare(job, good);
    return (em, locked) => target.apply(em, locked, good);
  }

  /**
   * One transaction: the chunk's records applied, its bad lines appended to the report, the
   * counters and the checkpoint moved (and, for the last chunk, the final status). Returns the
   * new checkpoint.
   */
  private commitChunk(
    scope: TenantScope & { job_id: string },
    expected: number,
    records: readonly ImportRecord[],
    write: ChunkWrite,
    last: boolean,
  ): Promise<number> {
    let committed: { job: BulkJobEntity; succeeded: number; failed: number } | undefined;
    const done = this.dataSource.transaction(async (em) => {
      const job = await this.jobs.byId(scope, scope.job_id, { em, lock: 'update' });
      if (!job) throw new Stopped('missing');
      if (job.status !== 'running') throw new Stopped(job.status);
      // Another run of the same job (a stalled job handed on) got here first: leave it to that one.
      if (job.last_processed_line !== expected) throw new Stopped('superseded');

      const applied = await write(em, job);
      const errors = [
        ...records
          .filter((r) => r.error !== undefined)
          .map((r): ReportEntry => ({ line: r.line, error: r.error ?? '', raw: r.raw, rawBytes: r.rawBytes })),
        ...applied.errors,
      ].sort((a, b) => a.line - b.line);
      if (errors.length) await this.appendReport(em, job, errors);

      const checkpoint = records.length ? records[records.length - 1].line : expected;
      const failed = job.failed + errors.length;
      const counters: ScopedPatch<BulkJobEntity> = {
        processed: job.processed + records.length,
        succeeded: job.succeeded + applied.succeeded,
        failed,
        last_processed_line: checkpoint,
        updated_at: new Date(),
      };
      if (last) {
        await this.finish(em, job, failed > 0 ? 'complete_with_errors' : 'complete', {
          ...counters,
          // The upload counted the file's lines; a job written without one counts its records.
          total_lines: job.total_lines ?? job.processed + records.length,
        });
      } else await this.jobs.update(job, { job_id: job.job_id }, counters, em);
      committed = { job, succeeded: applied.succeeded, failed: errors.length };
      return checkpoint;
    });
    // Counted per chunk, once it has committed.
    return done.then((checkpoint) => {
      if (committed) this.countLines(committed.job, committed.succeeded, committed.failed);
      return checkpoint;
    });
  }

  private countLines(job: BulkJobEntity, succeeded: number, failed: number): void {
    this.metrics.countLines(job, succeeded, failed);
  }

  /**
   * An export from its cursor: counts the rows once (for `progress`), then writes one part per
   * chunk until a page comes back short. A pipeline of two: page N+1 is read and encoded (from
   * page N's cursor) while page N commits; its part is written only if the job's cursor is still
   * the one it was read from.
   */
  private async exportRows(job: BulkJobEntity, source: ExportSource, ctx: BulkJobContext): Promise<BulkRunOutcome> {
    if (job.total_lines === null) {
      const total = await source.count(this.dataSource.manager, job);
      await this.jobs.update(job, { job_id: job.job_id }, { total_lines: total });
    }
    const limit = this.config.BULK_CHUNK_LINES;
    let cursor = job.cursor;
    let reading = this.readExportChunk(job, source, cursor, limit);
    try {
      for (;;) {
        const chunk = await reading;
        const last = chunk.count < limit || chunk.cursor === null;
        if (!last) {
          reading = this.readExportChunk(job, source, chunk.cursor, limit);
          // Awaited next round (or in finally); until then a failure must not count as unhandled.
          reading.catch(() => undefined);
        }
        await this.commitExportChunk(job, cursor, chunk, last);
        if (last) return await this.statusOf(job);
        cursor = chunk.cursor;
        if (ctx.signal?.aborted) await this.interrupt(job, cursor ?? '');
      }
    } finally {
      await reading.catch(() => undefined);
    }
  }

  /**
   * One page after `after`, encoded as the part it becomes (the CSV header first when the export
   * starts). Read in a transaction of its own, with sorts off: every page is `ORDER BY <key> LIMIT n`
   * along an index, and on statistics that predate a big import the planner would guess a handful of
   * rows and sort every row past the cursor instead of walking the index and stopping after n.
   */
  private async readExportChunk(
    job: BulkJobEntity,
    source: ExportSource,
    after: string | null,
    limit: number,
  ): Promise<ExportChunk> {
    const page = await this.dataSource.transaction(async (em) => {
      await em.query('SET LOCAL enable_sort = off');
      return source.page(em, job, after, limit);
    });
    let text = after === null && job.format === 'csv' ? csvHeader(source.columns) : '';
    let count = page.docs.length;
    if (job.format === 'csv') {
      for (const doc of page.docs) {
        const fields = doc as Record<string, unknown>;
        text += csvRow(source.columns.map((c) => fields[c]));
      }
    } else if (page.lines) {
      count = page.lines.length;
      if (count) text += page.lines.join('\n') + '\n';
    } else for (const doc of page.docs) text += ndjsonLine(doc);
    return { data: text ? Buffer.from(text, 'utf8') : null, count, cursor: page.cursor };
  }

  /**
   * One transaction: a chunk read from the job's cursor `expected`, written as the export's next
   * part, with the new cursor and counters (and, for the last chunk, the final status).
   */
  private async commitExportChunk(
    scope: TenantScope & { job_id: string },
    expected: string | null,
    chunk: ExportChunk,
    last: boolean,
  ): Promise<void> {
    const job = await this.dataSource.transaction(async (em) => {
      const job = await this.jobs.byId(scope, scope.job_id, { em, lock: 'update' });
      if (!job) throw new Stopped('missing');
      if (job.status !== 'running') throw new Stopped(job.status);
      if (job.cursor !== expected) throw new Stopped('superseded');

      if (chunk.data) {
        const ref: BulkObjectRef = { orgcode: job.orgcode, jobId: job.job_id, kind: 'export' };
        const startAt = ((await this.storage.lastPart(ref, em)) ?? -1) + 1;
        const writer = this.storage.createWriter(ref, { startAt, partSize: Number.MAX_SAFE_INTEGER });
        await writer.write(chunk.data, em);
        await writer.finish(em);
      }
      const counters: ScopedPatch<BulkJobEntity> = {
        processed: job.processed + chunk.count,
        succeeded: job.succeeded + chunk.count,
        cursor: chunk.cursor ?? job.cursor,
        updated_at: new Date(),
      };
      if (last) await this.finish(em, job, 'complete', { ...counters, total_lines: job.processed + chunk.count });
      else await this.jobs.update(job, { job_id: job.job_id }, counters, em);
      return job;
    });
    this.countLines(job, chunk.count, 0);
  }

  /**
   * The final transition of a running job (`complete`, `complete_with_errors` or `fail`) with the
   * chunk's last `fields`, revisioned, and its `ipm.bulk.job.*` event, in `em`'s transaction: the
   * files live BULK_FILE_TTL_DAYS from now.
   */
  private async finish(
    em: EntityManager,
    job: BulkJobEntity,
    name: Extract<BulkJobTransition, 'complete' | 'complete_with_errors' | 'fail'>,
    fields: ScopedPatch<BulkJobEntity>,
  ): Promise<void> {
    const now = new Date();
    const finished = await this.jobs.revise(
      job,
      em,
      job,
      { job_id: job.job_id },
      {
        actor: BULK_WORKER_ACTOR,
        at: now,
        patch: {
          ...fields,
          status: fire(BulkJobMachine, job.status, name),
          finished_at: now,
          expires_at: new Date(now.getTime() + this.config.BULK_FILE_TTL_DAYS * 86_400_000),
        },
      },
    );
    await this.emitFinished(em, finished);
  }

  /** `ipm.bulk.job.completed` or `ipm.bulk.job.failed` for the job's tenant, in the caller's transaction. */
  private async emitFinished(em: EntityManager, job: BulkJobEntity): Promise<void> {
    const caller: Caller = {
      kind: 'system',
      actor_id: BULK_WORKER_ACTOR,
      orgs: [job.orgcode],
      permissions: [],
      app_id: job.app_id,
      orgcode: job.orgcode,
    };
    const payload = {
      job_id: job.job_id,
      job_type: job.job_type,
      target: job.target,
      format: job.format,
      status: job.status,
      processed: job.processed,
      failed: job.failed,
      ...(job.status === 'failed' ? { error: job.error ?? 'failed' } : {}),
    };
    const action = job.status === 'failed' ? 'bulk.job.failed' : 'bulk.job.completed';
    await this.platformEvents.emit(em, caller, action, payload, { logical_guid: job.job_id });
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

  /** queued -> running, unless something else changed the job meanwhile (a cancel). */
  private async start(job: BulkJobEntity): Promise<boolean> {
    const status = fire(BulkJobMachine, job.status, 'start');
    try {
      const started = await this.jobs.revise(
        job,
        this.dataSource.manager,
        job,
        { job_id: job.job_id, status: job.status },
        {
          actor: BULK_WORKER_ACTOR,
          patch: { status, started_at: job.started_at ?? new Date() },
        },
      );
      Object.assign(job, started);
      return true;
    } catch (err) {
      if (err instanceof AppError && err.code === ErrorCode.RevisionMismatch) return false;
      throw err;
    }
  }

  /** running -> failed (with its error) or back to queued (shutdown), if the job is still running. */
  private async leaveRunning(job: BulkJobEntity, name: 'fail' | 'requeue', error?: string): Promise<boolean> {
    return this.dataSource.transaction(async (em) => {
      const row = await this.jobs.byId(job, job.job_id, { em, lock: 'update' });
      if (!row || !canFire(BulkJobMachine, row.status, name)) return false;
      if (name === 'fail') await this.finish(em, row, 'fail', { error: error ?? 'failed' });
      else {
        const status = fire(BulkJobMachine, row.status, name);
        await this.jobs.revise(job, em, row, { job_id: row.job_id }, { actor: BULK_WORKER_ACTOR, patch: { status } });
      }
      return true;
    });
  }

  private async fail(job: BulkJobEntity, error: string): Promise<void> {
    this.logger.warn(`bulk job ${job.job_id} failed: ${error}`);
    await this.leaveRunning(job, 'fail', error);
  }

  /** Shutdown between chunks: back to `queued`, and a throw so that BullMQ runs the job again. */
  private async interrupt(job: BulkJobEntity, checkpoint: number | string): Promise<never> {
    await this.leaveRunning(job, 'requeue');
    const where = typeof checkpoint === 'number' ? `line ${checkpoint}` : `cursor ${checkpoint}`;
    throw new Error(`bulk job ${job.job_id} interrupted by shutdown after ${where}; it resumes from there`);
  }

  private async statusOf(job: BulkJobEntity): Promise<BulkRunOutcome> {
    const row = await this.jobs.byId(job, job.job_id);
    return row?.status ?? 'missing';
  }
}
