import { Injectable } from '@nestjs/common';
import { Counter, type Registry } from 'prom-client';

/** What a committed chunk counted: its job's type and target, and its lines by result. */
export interface BulkLinesCounted {
  job_type: string;
  target: string;
}

/**
 * The bulk runner's counters, served by the worker's /metrics (WorkerMetrics registers them in its
 * registry). Every label has a small, fixed set of values: no tenant or job id.
 */
@Injectable()
export class BulkMetrics {
  /** Bulk lines committed, by job type (import/export), target and result (succeeded/failed). */
  readonly lines = new Counter<'type' | 'target' | 'result'>({
    name: 'ipm_bulk_lines_total',
    help: 'Bulk lines (import) or rows (export) committed, by job type, target and result',
    labelNames: ['type', 'target', 'result'],
    registers: [],
  });

  /** Serves these counters from `registry` too. */
  registerIn(registry: Registry): void {
    registry.registerMetric(this.lines);
  }

  /** One committed chunk's lines (nothing counted for a result with none). */
  countLines(job: BulkLinesCounted, succeeded: number, failed: number): void {
    const labels = { type: job.job_type, target: job.target };
    if (succeeded > 0) this.lines.inc({ ...labels, result: 'succeeded' }, succeeded);
    if (failed > 0) this.lines.inc({ ...labels, result: 'failed' }, failed);
  }
}
