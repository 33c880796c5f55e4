import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { BulkJob } from './job-producer';

/** A job with the id that makes enqueuing it twice a no-op. */
export type IdentifiedJob = BulkJob & { opts: { jobId: string } };

/**
 * A feature whose work PostgreSQL records and a queue only carries (bulk runs, replays): it tells
 * the sweeper which of its jobs the database says should be queued by now, and the sweeper
 * re-enqueues those that no queue holds (after a Redis flush, say).
 */
export interface StalledJobSource {
  /** Up to `limit` jobs that have waited at least `graceSeconds` in the database for a run. */
  stalled(em: EntityManager, graceSeconds: number, limit: number): Promise<IdentifiedJob[]>;
}

/** Where features register their {@link StalledJobSource} (at module init) for the worker's sweeper. */
@Injectable()
export class StalledJobSources {
  private readonly sources: StalledJobSource[] = [];

  register(source: StalledJobSource): void {
    if (!this.sources.includes(source)) this.sources.push(source);
  }

  list(): readonly StalledJobSource[] {
    return this.sources;
  }
}
