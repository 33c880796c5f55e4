import { Injectable } from '@nestjs/common';
import type { EntityManager, SelectQueryBuilder } from 'typeorm';
import { TenantRepository } from '@ipm/persistence';
import { WebhookEntity } from '@ipm/webhooks';
import type { WebhookDto } from '@ipm/webhooks';
import { toWebhookDto } from '@ipm/webhooks';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import type { ExportPage, ExportSource } from './targets';

/** A webhook as exported: `/webhook/get`'s shape without `secret_last4` (no secret material; the fingerprint stays). */
export type ExportedWebhook = Omit<WebhookDto, 'secret_last4'>;

/** The CSV columns: the webhook DTO's fields in order, without `secret_last4`. */
export const WEBHOOK_EXPORT_COLUMNS = [
  'webhook_id',
  'orgcode',
  'app_id',
  'name',
  'description',
  'endpoint_url',
  'status',
  'event_filters',
  'headers',
  'retry_policy',
  'signing_algorithm',
  'secret_fingerprint',
  'previous_secret_expires_at',
  'tags',
  'consecutive_failures',
  'paused_at',
  'last_delivery_at',
  'last_delivery_status',
  'verified_at',
  'verification_status',
  'created_at',
  'created_by',
  'updated_at',
  'updated_by',
  'revision',
] as const satisfies ReadonlyArray<keyof ExportedWebhook>;

export function toExportedWebhook(w: WebhookEntity): ExportedWebhook {
  const { secret_last4: _shown, ...doc } = toWebhookDto(w);
  return doc;
}

/** The job's live webhooks: its tenant's (its app's when set), filtered by `status` and created_at's `from_utc`/`to_utc`. */
function webhooksOf(db: EntityManager, job: BulkJobEntity): SelectQueryBuilder<WebhookEntity> {
  // The job is the scope: its tenant, and its app when an app principal created it.
  const qb = new TenantRepository(WebhookEntity, db).query(job, 'w').andWhere('w.is_deleted = false');
  const { status, from_utc, to_utc } = job.options;
  if (status) qb.andWhere('w.status = :status', { status });
  if (from_utc) qb.andWhere('w.created_at >= :from_utc', { from_utc: new Date(from_utc) });
  if (to_utc) qb.andWhere('w.created_at < :to_utc', { to_utc: new Date(to_utc) });
  return qb;
}

/**
 * Webhooks in webhook_id order (ULIDs: creation order), keyset-paged on the (orgcode, webhook_id)
 * index of live rows; the cursor is the last webhook_id. Deleted webhooks are not exported, as
 * lists do not show them; secrets (sealed or in part) never leave.
 */
@Injectable()
export class WebhookExport implements ExportSource {
  readonly columns = WEBHOOK_EXPORT_COLUMNS;

  count(db: EntityManager, job: BulkJobEntity): Promise<number> {
    return webhooksOf(db, job).getCount();
  }

  async page(db: EntityManager, job: BulkJobEntity, after: string | null, limit: number): Promise<ExportPage> {
    const qb = webhooksOf(db, job);
    if (after !== null) qb.andWhere('w.webhook_id > :after', { after });
    const rows = await qb.orderBy('w.webhook_id', 'ASC').limit(limit).getMany();
    return { docs: rows.map(toExportedWebhook), cursor: rows.at(-1)?.webhook_id ?? null };
  }
}
