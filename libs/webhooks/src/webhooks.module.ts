import { Module, Provider } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '@ipm/core';
import { EndpointUrlGuard } from './net/ssrf';
import { DeliveryAttemptEntity } from './entities/delivery-attempt.entity';
import { DeliveryEntity } from './entities/delivery.entity';
import { WebhookDeliveryHourEntity } from './entities/webhook-delivery-hour.entity';
import { WebhookReplayEntity } from './entities/webhook-replay.entity';
import { WebhookEntity } from './entities/webhook.entity';
import { ReplayRepository } from './replay/replay.repository';
import { WebhookRepository } from './webhook.repository';
import { WebhookSecrets } from './webhook-secrets';
import { DeliveryScheduler } from './engine/delivery-scheduler';

/** The endpoint URL guard from config: the operator allowlist (CIDRs) and WEBHOOK_REQUIRE_HTTPS. */
export const endpointUrlGuardProvider: Provider = {
  provide: EndpointUrlGuard,
  inject: [AppConfig],
  useFactory: (config: AppConfig) =>
    new EndpointUrlGuard({ allowlist: config.allowlist, requireHttps: config.WEBHOOK_REQUIRE_HTTPS }),
};

/** Webhooks' storage, secrets and URL guard, for the api routes and the delivery engine alike. */
@Module({
  imports: [
    TypeOrmModule.forFeature([
      WebhookEntity,
      DeliveryEntity,
      DeliveryAttemptEntity,
      WebhookReplayEntity,
      WebhookDeliveryHourEntity,
    ]),
  ],
  providers: [WebhookRepository, ReplayRepository, WebhookSecrets, endpointUrlGuardProvider, DeliveryScheduler],
  exports: [WebhookRepository, ReplayRepository, WebhookSecrets, EndpointUrlGuard, DeliveryScheduler, TypeOrmModule],
})
export class WebhooksModule {}
