import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { TenantRepository } from '@ipm/persistence';
import { EventTypeEntity } from './event-type.entity';

/** `event_types`, a tenant's own catalog entries, always within the tenant. */
@Injectable()
export class EventTypesRepository extends TenantRepository<EventTypeEntity> {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(EventTypeEntity, dataSource.manager);
  }
}
