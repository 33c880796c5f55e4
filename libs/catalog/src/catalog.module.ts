import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '@ipm/audit/audit.module';
import { CatalogController, EventCatalogController } from './catalog.controller';
import { CatalogRegistry } from './catalog.registry';
import { CatalogService } from './catalog.service';
import { EventTypeEntity } from './event-type.entity';

/** The catalog registry (platform + tenant event types, compiled schemas), for any module that validates events. */
@Module({
  imports: [TypeOrmModule.forFeature([EventTypeEntity])],
  providers: [CatalogRegistry],
  exports: [CatalogRegistry],
})
export class CatalogModule {}

/** The catalog routes. */
@Module({
  imports: [CatalogModule, AuditModule],
  controllers: [EventCatalogController, CatalogController],
  providers: [CatalogService],
})
export class CatalogApiModule {}
