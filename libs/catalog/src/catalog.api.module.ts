import { Module } from '@nestjs/common';
import { AuditModule } from '@ipm/audit/audit.module';
import { EventsModule } from '@ipm/events/events.module';
import { CatalogController, EventCatalogController } from './catalog.controller';
import { CatalogModule } from './catalog.module';
import { CatalogService } from './catalog.service';

/** The catalog routes. */
@Module({
  imports: [CatalogModule, AuditModule, EventsModule],
  controllers: [EventCatalogController, CatalogController],
  providers: [CatalogService],
})
export class CatalogApiModule {}
