import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { TenantRepository } from '@ipm/persistence';
import { KpiSnapshotEntity } from './kpi-snapshot.entity';

/** `kpi_snapshots`, always within a tenant: the revisioned replace of /kpi/record and bulk imports. */
@Injectable()
export class KpiSnapshotsRepository extends TenantRepository<KpiSnapshotEntity> {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(KpiSnapshotEntity, dataSource.manager);
  }
}
