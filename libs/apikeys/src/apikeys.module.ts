import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '@ipm/audit';
import { ApiKeyEntity } from '@ipm/auth';
import { EventsModule } from '@ipm/events';
import { ApiKeysService } from './api-keys.service';

/** Creating, listing and revoking API keys (exported for the CLI, which mints the first key). */
@Module({
  imports: [TypeOrmModule.forFeature([ApiKeyEntity]), AuditModule, EventsModule],
  providers: [ApiKeysService],
  exports: [ApiKeysService],
})
export class ApiKeysModule {}
