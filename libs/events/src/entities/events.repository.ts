import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { TenantRepository } from '@ipm/persistence';
import { EventEntity } from './event.entity';

/** `events`, read within a tenant (and an app principal's app): the change feed. EventStore writes them. */
@Injectable()
export class EventsRepository extends TenantRepository<EventEntity> {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(EventEntity, dataSource.manager);
  }
}
