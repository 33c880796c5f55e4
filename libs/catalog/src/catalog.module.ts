import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CatalogRegistry } from './catalog.registry';
import { EventTypeEntity } from './event-type.entity';
import { EventTypesRepository } from './event-types.repository';

/** The catalog registry (platform + tenant event types, compiled schemas), for any module that validates events. */
@Module({
  imports: [TypeOrmModule.forFeature([EventTypeEntity])],
  providers: [EventTypesRepository, CatalogRegistry],
  exports: [CatalogRegistry],
})
export class CatalogModule {}
