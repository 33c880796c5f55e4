import { Injectable, Logger } from '@nestjs/common';
import { BulkRunJob, JobContext, JobHandler } from '@ipm/queues';

/** The `bulk.run` job (placeholder while the import runner is built). */
@Injectable()
export class BulkImportRunner {
  private readonly logger = new Logger(BulkImportRunner.name);

  @JobHandler('bulk.run')
  run(payload: BulkRunJob, _ctx?: JobContext<'bulk.run'>): Promise<void> {
    this.logger.warn(`bulk job ${payload.job_id}: not processed yet`);
    return Promise.resolve();
  }
}
