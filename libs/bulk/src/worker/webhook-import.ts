import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import type { CsvShape, ImportRecord } from './import-records';
import type { ChunkResult, ImportTarget } from './targets';

/** Skeleton: the webhooks import target (being written). */
@Injectable()
export class WebhookImport implements ImportTarget {
  readonly csv: CsvShape = { required: [], optional: [], toValue: () => ({ error: 'not available yet' }) };

  apply(_em: EntityManager, _job: BulkJobEntity, records: readonly ImportRecord[]): Promise<ChunkResult> {
    return Promise.resolve({
      succeeded: 0,
      errors: records.map((r) => ({ line: r.line, error: 'webhooks import is not available yet', raw: r.raw, rawBytes: r.rawBytes })),
    });
  }
}
