import { Module } from '@nestjs/common';
import { AuditModule } from '@ipm/audit/audit.module';
import { CatalogModule } from '@ipm/catalog/catalog.module';
import { EventsModule } from '@ipm/events/events.module';
import { WebhooksController } from './webhooks.controller';
import { WebhooksModule } from './webhooks.module';
import { WebhooksService } from './webhooks.service';

/** The api side: the /webhook routes. */
@Module({
  imports: [WebhooksModule, AuditModule, EventsModule, CatalogModule],
  controllers: [WebhooksController],
  providers: [WebhooksService],
})
export class WebhooksApiModule {}
