import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { toDeliveryDto } from '@ipm/webhooks';
import type { DeliveryEntity } from '@ipm/webhooks';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import { SqlFilter } from './sql-filter';
import type { ExportPage, ExportSource } from './targets';

/** The CSV columns of a delivery: `/webhook/delivery/list`'s item fields, in order. */
export const DELIVERY_EXPORT_COLUMNS = [
  'delivery_id',
  'orgcode',
  'app_id',
  'webhook_id',
  'event_seq',
  'event_id',
  'event_type',
  'status',
  'origin',
  'retry_of',
  'replay_id',
  'attempt_count',
  'next_attempt_at',
  'last_attempt_at',
  'last_status_code',
  'last_error_kind',
  'last_error',
  'last_duration_ms',
  'created_at',
  'updated_at',
  'finished_at',
] as const;

function deliveryFilter(job: BulkJobEntity): SqlFilter {
  const filter = new SqlFilter().eq('orgcode', job.orgcode);
  if (job.app_id) filter.eq('app_id', job.app_id);
  const { webhook_id, status, event_type, service, from_utc, to_utc } = job.options;
  if (webhook_id) filter.eq('webhook_id', webhook_id);
  if (status) filter.eq('status', status);
  if (event_type) filter.eq('event_type', event_type);
  // A service's event types are `<service>.<action>`; the pattern has no wildcard of its own
  // (services are a-z 0-9 _, and _ is escaped).
  if (service) filter.raw(`event_type LIKE ${filter.param(`${service.replaceAll('_', '\\_')}.%`)}`);
  if (from_utc) filter.cmp('created_at', '>=', new Date(from_utc));
  if (to_utc) filter.cmp('created_at', '<', new Date(to_utc));
  return filter;
}

/** Deliveries in id order (ULIDs: creation order), paged on `ix_deliveries_org_id`; docs as the API shows them. */
@Injectable()
export class DeliveryExport implements ExportSource {
  readonly columns = DELIVERY_EXPORT_COLUMNS;

  async count(db: EntityManager, job: BulkJobEntity): Promise<number> {
    const filter = deliveryFilter(job);
    const [row] = await db.query<Array<{ n: string }>>(
      `SELECT count(*) AS n FROM deliveries WHERE ${filter.sql()}`,
      filter.params,
    );
    return Number(row.n);
  }

  async page(db: EntityManager, job: BulkJobEntity, after: string | null, limit: number): Promise<ExportPage> {
    const filter = deliveryFilter(job);
    if (after !== null) filter.cmp('delivery_id', '>', after);
    const rows = await db.query<DeliveryEntity[]>(
      `SELECT * FROM deliveries WHERE ${filter.sql()} ORDER BY delivery_id LIMIT ${filter.param(limit)}`,
      filter.params,
    );
    return { docs: rows.map(toDeliveryDto), cursor: rows.at(-1)?.delivery_id ?? null };
  }
}
