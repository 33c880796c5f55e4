import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CatalogModule } from '@ipm/catalog';
import { EventsModule } from '@ipm/events';
import { KpisModule } from '@ipm/kpis';
import { WebhooksServiceModule } from '@ipm/webhooks';
import { BulkMetrics } from './bulk-metrics';
import { BulkStorageModule } from './bulk-storage.module';
import { BulkJobEntity } from './jobs/bulk-job.entity';
import { BulkJobsRepository } from './jobs/bulk-jobs.repository';
import { BulkStalledJobs } from './jobs/bulk-stalled-jobs';
import { BulkRunner } from './worker/bulk.runner';
import { BULK_TARGET_PROVIDERS } from './worker/bulk-targets';

/** The worker side of bulk jobs: the `bulk.run` handler, the import targets it applies chunks with and the export sources it pages. */
@Module({
  imports: [
    TypeOrmModule.forFeature([BulkJobEntity]),
    BulkStorageModule,
    EventsModule,
    CatalogModule,
    WebhooksServiceModule,
    KpisModule,
  ],
  providers: [BulkJobsRepository, BulkMetrics, BulkRunner, BulkStalledJobs, ...BULK_TARGET_PROVIDERS],
  exports: [BulkRunner, BulkMetrics],
})
export class BulkWorkerModule {}
