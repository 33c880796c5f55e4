import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '@ipm/core';
import { IdempotencyRecordEntity } from '@ipm/core';
import { ApiKeyEntity } from '@ipm/auth';
import { AuditLogEntity } from '@ipm/audit';
import { EventTypeEntity } from '@ipm/catalog';
import { EventEntity } from '@ipm/events';
import { EventOutboxEntity } from '@ipm/events';
import { WebhookEntity } from '@ipm/webhooks';
import { DeliveryEntity } from '@ipm/webhooks';
import { DeliveryAttemptEntity } from '@ipm/webhooks';
import { WebhookReplayEntity } from '@ipm/webhooks';
import { WebhookDeliveryHourEntity } from '@ipm/webhooks';
import { BulkPartEntity } from '@ipm/bulk';
import { BulkJobEntity } from '@ipm/bulk';
import { KpiSnapshotEntity } from '@ipm/kpis';
import { KpiAlertEntity } from '@ipm/kpis';
import { dataSourceOptions } from '@ipm/persistence';

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
