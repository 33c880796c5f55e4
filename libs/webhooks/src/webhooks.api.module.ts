import { Module, OnApplicationShutdown, Provider } from '@nestjs/common';
import { AuditModule } from '@ipm/audit';
import { CatalogModule } from '@ipm/catalog';
import { AppConfig } from '@ipm/core';
import { EventsModule } from '@ipm/events';
import { DeliveriesController } from './deliveries/deliveries.controller';
import { DeliveriesService } from './deliveries/deliveries.service';
import { DeliveryRepository } from './deliveries/delivery.repository';
import { ReplaysService } from './deliveries/replays.service';
import { WebhookChecksService } from './deliveries/webhook-checks.service';
import { DeliveryClient } from './delivery-client';
import { DELIVERY_USER_AGENT } from './engine/delivery-attempt';
import { WebhooksController } from './webhooks.controller';
import { WebhooksModule } from './webhooks.module';
import { WebhooksServiceModule } from './webhooks.service.module';

/** The HTTP client /webhook/verify posts with: the same SSRF rules and allowlist as the delivery engine. */
export const apiDeliveryClientProvider: Provider = {
  provide: DeliveryClient,
  inject: [AppConfig],
  useFactory: (config: AppConfig) =>
    new DeliveryClient({ allowlist: config.allowlist, userAgent: DELIVERY_USER_AGENT }),
};

/** The api side: the /webhook routes. */
@Module({
  imports: [WebhooksModule, WebhooksServiceModule, AuditModule, EventsModule, CatalogModule],
  controllers: [WebhooksController, DeliveriesController],
  providers: [DeliveryRepository, DeliveriesService, ReplaysService, WebhookChecksService, apiDeliveryClientProvider],
})
export class WebhooksApiModule implements OnApplicationShutdown {
  constructor(private readonly client: DeliveryClient) {}

  onApplicationShutdown(): void {
    this.client.close();
  }
}
