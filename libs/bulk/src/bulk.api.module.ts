import { Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { FastifyInstance } from 'fastify';
import { AuditModule } from '@ipm/audit';
import { BulkFilesController, BulkJobsController } from './api/bulk-jobs.controller';
import { BulkJobsService } from './api/bulk-jobs.service';
import { BulkTransfersService } from './api/bulk-transfers.service';
import { BulkUrlTokens } from './api/bulk-url-tokens';
import { registerUploadContentTypes } from './api/upload-content-types';
import { BulkStorageModule } from './bulk-storage.module';
import { BulkJobEntity } from './jobs/bulk-job.entity';
import { BulkJobsRepository } from './jobs/bulk-jobs.repository';

/**
 * The api side of bulk jobs: the /bulk routes and the signed upload and file URLs. It registers
 * the upload route's content types on the HTTP server itself (at init, before the server starts),
 * so the app that imports it needs to know nothing of bulk uploads.
 */
@Module({
  imports: [TypeOrmModule.forFeature([BulkJobEntity]), BulkStorageModule, AuditModule],
  controllers: [BulkJobsController, BulkFilesController],
  providers: [BulkJobsRepository, BulkJobsService, BulkTransfersService, BulkUrlTokens],
})
export class BulkApiModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const server = this.adapterHost.httpAdapter?.getInstance<FastifyInstance | undefined>();
    // Bulk uploads stream their raw body (that route only); an app without an HTTP server has none.
    if (server && typeof server.addContentTypeParser === 'function') registerUploadContentTypes(server);
  }
}
