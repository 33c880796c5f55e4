import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '@ipm/audit';
import { BulkFilesController, BulkJobsController } from './api/bulk-jobs.controller';
import { BulkJobsService } from './api/bulk-jobs.service';
import { BulkUrlTokens } from './api/bulk-url-tokens';
import { BulkStorageModule } from './bulk-storage.module';
import { BulkJobEntity } from './jobs/bulk-job.entity';

/** The api side of bulk jobs: the /bulk routes and the signed upload and file URLs. */
@Module({
  imports: [TypeOrmModule.forFeature([BulkJobEntity]), BulkStorageModule, AuditModule],
  controllers: [BulkJobsController, BulkFilesController],
  providers: [BulkJobsService, BulkUrlTokens],
})
export class BulkApiModule {}
