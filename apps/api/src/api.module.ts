import { Module } from '@nestjs/common';
import { AppConfigModule, AppLoggingModule, IdempotencyModule } from '@ipm/core';
import { ApiKeysApiModule } from '@ipm/apikeys';
import { AuthApiModule } from '@ipm/auth';
import { AuditApiModule } from '@ipm/audit';
import { CatalogApiModule } from '@ipm/catalog-api';
import { HealthApiModule } from '@ipm/health';
import { LifecycleApiModule } from '@ipm/lifecycle';
import { EventsApiModule } from '@ipm/events';
import { WebhooksApiModule } from '@ipm/webhooks';
import { BulkApiModule } from '@ipm/bulk';
import { KpisApiModule } from '@ipm/kpis';
import { PersistenceModule } from '@ipm/persistence';
import { QueuesModule } from '@ipm/queues';
import { QueueDashboardModule } from './admin/queue-dashboard.module';
import { ApiMetrics, MetricsController } from './metrics';
import { StatController } from './stat.controller';

/** The HTTP app: controllers, the global guard, and the shared infrastructure. */
@Module({
  imports: [
    AppConfigModule,
    AppLoggingModule.forApp('api'),
    PersistenceModule,
    QueuesModule,
    AuthApiModule,
    ApiKeysApiModule,
    IdempotencyModule,
    AuditApiModule,
    HealthApiModule,
    LifecycleApiModule,
    EventsApiModule,
    CatalogApiModule,
    WebhooksApiModule,
    BulkApiModule,
    KpisApiModule,
    QueueDashboardModule,
  ],
  controllers: [StatController, MetricsController],
  providers: [ApiMetrics],
})
export class ApiModule {}
