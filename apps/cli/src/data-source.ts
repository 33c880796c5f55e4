import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '@ipm/core/config/config.schema';
import { IdempotencyRecordEntity } from '@ipm/core/idempotency/idempotency-record.entity';
import { ApiKeyEntity } from '@ipm/auth/apikeys/api-key.entity';
import { AuditLogEntity } from '@ipm/audit/audit-log.entity';
import { EventTypeEntity } from '@ipm/catalog/event-type.entity';
import { EventEntity } from '@ipm/events/entities/event.entity';
import { EventOutboxEntity } from '@ipm/events/entities/event-outbox.entity';
import { WebhookEntity } from '@ipm/webhooks/entities/webhook.entity';
import { DeliveryEntity } from '@ipm/webhooks/entities/delivery.entity';
import { DeliveryAttemptEntity } from '@ipm/webhooks/entities/delivery-attempt.entity';
import { WebhookReplayEntity } from '@ipm/webhooks/entities/webhook-replay.entity';
import { WebhookDeliveryHourEntity } from '@ipm/webhooks/entities/webhook-delivery-hour.entity';
import { BulkPartEntity } from '@ipm/bulk/storage/bulk-parts.entity';
import { BulkJobEntity } from '@ipm/bulk/jobs/bulk-job.entity';
import { KpiSnapshotEntity } from '@ipm/kpis/entities/kpi-snapshot.entity';
import { KpiAlertEntity } from '@ipm/kpis/alerts/kpi-alert.entity';
import { dataSourceOptions } from '@ipm/persistence/data-source-options';

/** Every entity, for `npm run migration:generate` (the apps load theirs with forFeature). */
export const ALL_ENTITIES = [
  IdempotencyRecordEntity,
  ApiKeyEntity,
  AuditLogEntity,
  EventTypeEntity,
  EventEntity,
  EventOutboxEntity,
  WebhookEntity,
  DeliveryEntity,
  DeliveryAttemptEntity,
  WebhookReplayEntity,
  WebhookDeliveryHourEntity,
  BulkPartEntity,
  BulkJobEntity,
  KpiSnapshotEntity,
  KpiAlertEntity,
];

export default new DataSource(dataSourceOptions(loadConfig(process.env), ALL_ENTITIES));
