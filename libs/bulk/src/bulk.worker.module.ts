import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CatalogModule } from '@ipm/catalog/catalog.module';
import { EventsModule } from '@ipm/events/events.module';
import { BulkStorageModule } from './bulk-storage.module';
import { BulkJobEntity } from './jobs/bulk-job.entity';
import { BulkImportRunner } from './worker/bulk-import.runner';
import { EventImport } from './worker/event-import';

/** The worker side of bulk jobs: the `bulk.run` handler and the import targets it applies chunks with. */
@Module({
  imports: [TypeOrmModule.forFeature([BulkJobEntity]), BulkStorageModule, EventsModule, CatalogModule],
  providers: [BulkImportRunner, EventImport],
  exports: [BulkImportRunner],
})
export class BulkWorkerModule {}
