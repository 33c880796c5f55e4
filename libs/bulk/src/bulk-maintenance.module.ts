import { Module } from '@nestjs/common';
import { BulkStorageModule } from './bulk-storage.module';
import { BulkExpiry } from './worker/bulk-expiry';

/** Bulk housekeeping in the worker: `maintenance.bulk_expiry` (files past BULK_FILE_TTL_DAYS, jobs to `expired`). */
@Module({
  imports: [BulkStorageModule],
  providers: [BulkExpiry],
  exports: [BulkExpiry],
})
export class BulkMaintenanceModule {}
