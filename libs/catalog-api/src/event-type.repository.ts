import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { EventTypeEntity } from '@ipm/catalog';
import { TenantRepository } from '@ipm/persistence';

/** The writes of the tenant's own event types (`event_types`): every one scoped to the tenant. */
@Injectable()
export class EventTypeRepository extends TenantRepository<EventTypeEntity> {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(EventTypeEntity, dataSource.manager);
  }
}
