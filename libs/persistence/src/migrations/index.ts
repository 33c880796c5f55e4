import type { MigrationInterface } from 'typeorm';
import { Init1795430334500 } from './1795430334500-Init';
import { Catalog1795432905127 } from './1795432905127-Catalog';
import { Events1795433124599 } from './1795433124599-Events';
import { Webhooks1795435359061 } from './1795435359061-Webhooks';
import { Deliveries1795439494721 } from './1795439494721-Deliveries';
import { BulkParts1795445933923 } from './1795445933923-BulkParts';
import { BulkJobs1795446246447 } from './1795446246447-BulkJobs';
import { Kpis1795448709222 } from './1795448709222-Kpis';
import { BulkPartsLz41795452000000 } from './1795452000000-BulkPartsLz4';
import { KpiAlerts1795453824254 } from './1795453824254-KpiAlerts';
import { WebhookDeliveryHours1795458384694 } from './1795458384694-WebhookDeliveryHours';
import { WebhookDeliveryHourDurations1795459437096 } from './1795459437096-WebhookDeliveryHourDurations';
import { ApiKeyParents1795470000000 } from './1795470000000-ApiKeyParents';

/** Every migration, in order. Listed explicitly: a glob does not survive bundling. */
export const MIGRATIONS: Array<new () => MigrationInterface> = [
  Init1795430334500,
  Catalog1795432905127,
  Events1795433124599,
  Webhooks1795435359061,
  Deliveries1795439494721,
  BulkParts1795445933923,
  BulkJobs1795446246447,
  Kpis1795448709222,
  BulkPartsLz41795452000000,
  KpiAlerts1795453824254,
  WebhookDeliveryHours1795458384694,
  WebhookDeliveryHourDurations1795459437096,
  ApiKeyParents1795470000000,
];
