import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BulkStorageModule } from './bulk-storage.module';
import { BulkJobEntity } from './jobs/bulk-job.entity';
import { BulkJobsRepository } from './jobs/bulk-jobs.repository';
import { BulkExpiry } from './worker/bulk-expiry';

/** Bulk housekeeping in the worker: `maintenance.bulk_expiry` (files past BULK_FILE_TTL_DAYS, jobs to `expired`). */
@Module({
  imports: [TypeOrmModule.forFeature([BulkJobEntity]), BulkStorageModule],
  providers: [BulkJobsRepository, BulkExpiry],
  exports: [BulkExpiry],
})
export class BulkMaintenanceModule {}
