import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { TenantRepository } from '@ipm/persistence';
import { AuditLogEntity } from './audit-log.entity';

/** `audit_log`, always within a tenant (and an app principal's app). Rows are written by AuditService.record. */
@Injectable()
export class AuditLogRepository extends TenantRepository<AuditLogEntity> {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(AuditLogEntity, dataSource.manager);
  }
}
