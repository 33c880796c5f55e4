import { Module } from '@nestjs/common';
import { AuditModule } from '@ipm/audit';
import { EventsModule } from '@ipm/events';
import { CatalogController, EventCatalogController } from './catalog.controller';
import { CatalogModule } from '@ipm/catalog';
import { CatalogService } from './catalog.service';
import { EventTypeRepository } from './event-type.repository';

/** The catalog routes. */
@Module({
  imports: [CatalogModule, AuditModule, EventsModule],
  controllers: [EventCatalogController, CatalogController],
  providers: [CatalogService, EventTypeRepository],
})
export class CatalogApiModule {}
