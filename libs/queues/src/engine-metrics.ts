import { Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';

/**
 * The bulk runner's counters, in a registry of their own that the worker's /metrics serves
 * (WorkerMetrics merges it; the delivery engine's are DeliveryMetrics, in libs/webhooks). Provided by
 * the global QueuesModule, so any engine class can inject it. Every label has a small, fixed set of
 * values: no tenant or job id.
 */
@Injectable()
export class EngineMetrics {
  readonly registry = new Registry();
  /** Bulk lines committed, by job type (import/export), target and result (succeeded/failed). */
  readonly bulkLines: Counter<'type' | 'target' | 'result'>;

  constructor() {
    const registers = [this.registry];
    this.bulkLines = new Counter({
      name: 'ipm_bulk_lines_total',
      help: 'Bulk lines (import) or rows (export) committed, by job type, target and result',
      labelNames: ['type', 'target', 'result'],
      registers,
    });
  }
}
