import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CatalogRegistry } from './catalog.registry';
import { EventTypeEntity } from './event-type.entity';

/** The catalog registry (platform + tenant event types, compiled schemas), for any module that validates events. */
@Module({
  imports: [TypeOrmModule.forFeature([EventTypeEntity])],
  providers: [CatalogRegistry],
  exports: [CatalogRegistry],
})
export class CatalogModule {}
