import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BulkStorageModule } from './bulk-storage.module';
import { BulkJobEntity } from './jobs/bulk-job.entity';
import { BulkImportRunner } from './worker/bulk-import.runner';

/** The worker side of bulk jobs: the `bulk.run` handler. */
@Module({
  imports: [TypeOrmModule.forFeature([BulkJobEntity]), BulkStorageModule],
  providers: [BulkImportRunner],
})
export class BulkWorkerModule {}
