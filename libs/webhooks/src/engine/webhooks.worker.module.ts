import { Module } from '@nestjs/common';
import { EventsModule } from '@ipm/events';
import { ReplayRunner } from '../replay/replay.runner';
import { WebhooksModule } from '../webhooks.module';
import { DeliveryAttempts } from './delivery-attempt';
import { DeliveryExecutor } from './delivery-executor';
import { DeliveryMetrics } from './delivery-metrics';
import { DeliveryRetention } from './delivery-retention';
import { DeliveryStore } from './delivery-store';
import { OutboxRelay } from './outbox-relay';
import { Sweeper } from './sweeper';

/**
 * The worker side of webhooks: the outbox relay (fan-out), the delivery executor (`delivery.send`
 * and `delivery.retry`), replays, the sweeper and retention, and their metrics (DeliveryMetrics).
 */
@Module({
  imports: [WebhooksModule, EventsModule],
  providers: [
    DeliveryMetrics,
    DeliveryStore,
    DeliveryAttempts,
    DeliveryExecutor,
    OutboxRelay,
    Sweeper,
    DeliveryRetention,
    ReplayRunner,
  ],
  exports: [DeliveryMetrics, DeliveryExecutor, OutboxRelay, Sweeper, DeliveryRetention],
})
export class WebhooksWorkerModule {}
