import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager, SelectQueryBuilder } from 'typeorm';
import type { Cursor } from '@ipm/core';
import type { WebhookStatus } from '@ipm/lifecycle';
import { fetchKeysetPage, KeysetOrder, TenantRepository, type TenantScope } from '@ipm/persistence';
import { WebhookEntity } from './entities/webhook.entity';
import { matchesFilters } from './event-filters';

/** Whose webhooks a query may see: a tenant, narrowed to one app for app principals. */
export type WebhookScope = TenantScope;

export interface WebhookQuery {
  status?: WebhookStatus;
  /** Webhooks whose filters match this event type ({@link matchesFilters}). */
  event_type?: string;
  tag?: string;
  app_id?: string;
  order_by: 'created' | 'updated' | 'name';
  direction: 'ASC' | 'DESC';
}

/** `updated_at` at the millisecond, as a page cursor carries it. */
const UPDATED_MS = "date_trunc('milliseconds', w.updated_at)";

/** Rows read per round when a page is filtered in memory (event_type). */
const SCAN_BATCH = 256;

/**
 * Every query on `webhooks`. Each method takes the tenant (a query without it does not compile)
 * and the finders here see live rows only: a deleted webhook is gone for the API and for deliveries
 * alike. Writes go through TenantRepository's scoped insert, update and revise.
 */
@Injectable()
export class WebhookRepository extends TenantRepository<WebhookEntity> {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    super(WebhookEntity, dataSource.manager);
  }

  /**
   * A live webhook visible to `scope`, or null (another tenant's or app's is null too). With a
   * transaction's manager and `lock`, the row is locked FOR UPDATE until that transaction ends.
   */
  async findVisible(
    scope: WebhookScope,
    webhookId: string,
    em?: EntityManager,
    lock = false,
  ): Promise<WebhookEntity | null> {
    // Plain SQL (the columns are the entity's properties): building this through TypeORM's findOne
    // was a quarter of a /webhook/get's CPU.
    const params: unknown[] = [webhookId, scope.orgcode];
    let sql = 'SELECT * FROM webhooks WHERE webhook_id = $1 AND orgcode = $2 AND is_deleted = false';
    if (scope.app_id) {
      params.push(scope.app_id);
      sql += ' AND app_id = $3';
    }
    if (lock) sql += ' FOR UPDATE';
    const rows = await (em ?? this.dataSource.manager).query<WebhookEntity[]>(sql, params);
    return rows[0] ?? null;
  }

  /**
   * Takes the tenant's webhook-creation lock (held until `em`'s transaction ends) and counts its
   * live webhooks, so that concurrent creates cannot pass the per-tenant limit together.
   */
  async lockTenantAndCount(em: EntityManager, scope: TenantScope): Promise<number> {
    await em.query(`SELECT pg_advisory_xact_lock(hashtext('ipm.webhooks'), hashtext($1))`, [scope.orgcode]);
    const rows: Array<{ n: number }> = await em.query(
      'SELECT count(*)::int AS n FROM webhooks WHERE orgcode = $1 AND is_deleted = false',
      [scope.orgcode],
    );
    return rows[0].n;
  }

  /** One keyset page of the scope's live webhooks, filtered and ordered as asked. */
  async page(
    scope: WebhookScope,
    query: WebhookQuery,
    cursor: Cursor | undefined,
    limit: number,
  ): Promise<{ rows: WebhookEntity[]; next?: Cursor }> {
    const order: KeysetOrder<WebhookEntity> =
      query.order_by === 'name'
        ? { columns: ['w.name', 'w.webhook_id'], direction: query.direction, cursorOf: (r) => [r.name, r.webhook_id] }
        : query.order_by === 'updated'
          ? {
              // At the millisecond a cursor carries (the engine stamps microseconds): the order and
              // the page boundary compare the same values, ties by webhook_id.
              columns: [UPDATED_MS, 'w.webhook_id'],
              direction: query.direction,
              cursorOf: (r) => [r.updated_at.toISOString(), r.webhook_id],
            }
          : { columns: ['w.webhook_id'], direction: query.direction, cursorOf: (r) => [r.webhook_id] };
    const base = (): SelectQueryBuilder<WebhookEntity> => {
      const qb = this.live(scope);
      if (query.app_id) qb.andWhere('w.app_id = :filter_app', { filter_app: query.app_id });
      if (query.status) qb.andWhere('w.status = :status', { status: query.status });
      if (query.tag) qb.andWhere('w.tags @> ARRAY[:tag]::text[]', { tag: query.tag });
      if (query.event_type) this.prefilter(qb, query.event_type);
      return qb;
    };
    const eventType = query.event_type;
    if (eventType === undefined) return fetchKeysetPage(base(), order, cursor, limit);
    return filteredKeysetPage(base, order, cursor, limit, (w) => matchesFilters(w.event_filters, eventType));
  }

  /**
   * For the fan-out: the tenant's live, active webhooks that receive `eventType`, in webhook_id
   * order after `after` (keyset), at most `limit`; `next` is set when more may follow.
   * `app_id` narrows to one application's webhooks when given.
   */
  async activeSubscribers(
    scope: TenantScope,
    eventType: string,
    options: { limit: number; after?: string },
  ): Promise<{ rows: WebhookEntity[]; next?: string }> {
    const order: KeysetOrder<WebhookEntity> = {
      columns: ['w.webhook_id'],
      direction: 'ASC',
      cursorOf: (r) => [r.webhook_id],
    };
    const base = (): SelectQueryBuilder<WebhookEntity> =>
      this.prefilter(this.live(scope).andWhere('w.status = :status', { status: 'active' }), eventType);
    const { rows, next } = await filteredKeysetPage(
      base,
      order,
      options.after === undefined ? undefined : [options.after],
      options.limit,
      (w) => matchesFilters(w.event_filters, eventType),
    );
    return { rows, next: next === undefined ? undefined : String(next[0]) };
  }

  private live(scope: TenantScope): SelectQueryBuilder<WebhookEntity> {
    return this.query(scope, 'w').andWhere('w.is_deleted = false');
  }

  /**
   * A coarse SQL narrowing for `eventType` (no filters, or one naming its service); the exact
   * decision is matchesFilters', in memory, so that there is one matcher.
   */
  private prefilter(qb: SelectQueryBuilder<WebhookEntity>, eventType: string): SelectQueryBuilder<WebhookEntity> {
    const service = eventType.slice(0, Math.max(0, eventType.indexOf('.')));
    return qb.andWhere(`(w.event_filters = '[]'::jsonb OR w.event_filters @> CAST(:service_filter AS jsonb))`, {
      service_filter: JSON.stringify([{ service }]),
    });
  }
}

/**
 * A keyset page of the rows that `keep` accepts: reads batches in order until `limit` rows are
 * kept and one more exists (then `next` is the cursor of the last row kept) or the rows run out.
 */
async function filteredKeysetPage(
  makeQuery: () => SelectQueryBuilder<WebhookEntity>,
  order: KeysetOrder<WebhookEntity>,
  cursor: Cursor | undefined,
  limit: number,
  keep: (row: WebhookEntity) => boolean,
): Promise<{ rows: WebhookEntity[]; next?: Cursor }> {
  const kept: WebhookEntity[] = [];
  let after = cursor;
  for (;;) {
    const { rows, next } = await fetchKeysetPage(makeQuery(), order, after, Math.max(SCAN_BATCH, limit + 1));
    for (const row of rows) {
      if (!keep(row)) continue;
      if (kept.length === limit) return { rows: kept, next: order.cursorOf(kept[kept.length - 1]) };
      kept.push(row);
    }
    if (!next) return { rows: kept };
    after = next;
  }
}
