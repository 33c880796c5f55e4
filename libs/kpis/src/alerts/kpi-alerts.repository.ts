import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { TenantRepository } from '@ipm/persistence';
import { KpiAlertEntity } from './kpi-alert.entity';

/** `kpi_alerts`, always within a tenant: the revisioned re-evaluation of /kpi/alert. */
@Injectable()
export class KpiAlertsRepository extends TenantRepository<KpiAlertEntity> {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(KpiAlertEntity, dataSource.manager);
  }
}
