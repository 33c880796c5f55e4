import { Module } from '@nestjs/common';
import { AppConfigModule, AppLoggingModule, IdempotencyModule } from '@ipm/core';
import { BulkMaintenanceModule } from '@ipm/bulk';
import { BulkWorkerModule } from '@ipm/bulk';
import { HealthModule } from '@ipm/health';
import { KpisWorkerModule } from '@ipm/kpis';
import { PersistenceModule } from '@ipm/persistence';
import { QueuesModule, QueuesWorkerModule } from '@ipm/queues';
import { WebhooksWorkerModule } from '@ipm/webhooks';
import { MaintenanceService } from './maintenance.service';
import { WorkerHttpServer } from './worker-http.server';
import { WorkerMetrics } from './worker-metrics';

/** The worker app: queue processors and job handlers, plus health and metrics over HTTP. No Nest HTTP. */
@Module({
  imports: [
    AppConfigModule,
    AppLoggingModule.forApp('worker'),
    PersistenceModule,
    QueuesModule,
    QueuesWorkerModule,
    HealthModule,
    IdempotencyModule,
    WebhooksWorkerModule,
    BulkWorkerModule,
    BulkMaintenanceModule,
    KpisWorkerModule,
  ],
  providers: [MaintenanceService, WorkerMetrics, WorkerHttpServer],
})
export class WorkerModule {}
