import { Module } from '@nestjs/common';
import { AuditModule } from '@ipm/audit';
import { CatalogModule } from '@ipm/catalog';
import { EventsModule } from '@ipm/events';
import { WebhooksModule } from './webhooks.module';
import { WebhooksService } from './webhooks.service';

/**
 * WebhooksService on its own, without the /webhook routes: the api's WebhooksApiModule and the
 * worker's bulk import of webhooks both take it from here.
 */
@Module({
  imports: [WebhooksModule, AuditModule, EventsModule, CatalogModule],
  providers: [WebhooksService],
  exports: [WebhooksService],
})
export class WebhooksServiceModule {}
