import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import type { ExportPage, ExportSource } from './targets';

/** Skeleton: the webhooks export source (being written). */
@Injectable()
export class WebhookExport implements ExportSource {
  readonly columns: readonly string[] = [];

  count(_db: EntityManager, _job: BulkJobEntity): Promise<number> {
    return Promise.resolve(0);
  }

  page(_db: EntityManager, _job: BulkJobEntity, _after: string | null, _limit: number): Promise<ExportPage> {
    return Promise.resolve({ docs: [], cursor: null });
  }
}
