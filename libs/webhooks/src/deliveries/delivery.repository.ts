import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { EntityManager, Repository, SelectQueryBuilder } from 'typeorm';
import type { Cursor } from '@ipm/core';
import type { DeliveryStatus } from '@ipm/lifecycle/machines';
import { fetchKeysetPage } from '@ipm/persistence';
import { DeliveryAttemptEntity } from '../entities/delivery-attempt.entity';
import { DeliveryEntity } from '../entities/delivery.entity';
import { WebhookReplayEntity } from '../entities/webhook-replay.entity';
import type { WebhookScope } from '../webhook.repository';
import {
  combineCounts,
  HOUR_MS,
  HOURS_LOCK,
  HOURS_RETENTION_LOCK,
  HourRow,
  LiveGroup,
  planStats,
  rollableHours,
  StatsPlan,
  StatusWindowCounts,
  UnsettledGroup,
} from './stats-hours';

export interface DeliveryQuery {
  webhook_id?: string;
  status?: DeliveryStatus;
  event_type?: string;
  /** created_at >= after */
  after?: Date;
  /** created_at < before */
  before?: Date;
}

export type { StatusWindowCounts } from './stats-hours';

/** A webhook's rolled-up hours that a stats read at `now` may use (see stats-hours.ts). */
export const STATS_HOURS_SQL = `
SELECT hour, success, failed, dead_letter FROM webhook_delivery_hours
WHERE webhook_id = $2 AND orgcode = $1 AND hour >= $3 AND hour <= $4`;

/**
 * The rest of a stats read, in one statement (parameters: {@link statsCountParams}):
 * - live: the deliveries of the ranges not covered by rows, one index range scan per range (the
 *   OFFSET 0 keeps the lateral subquery from being flattened into one scan of the webhook's rows),
 *   grouped by hour and status, with how many are settled;
 * - fill: rows for the hours that are final and have none yet, from those live counts (an hour
 *   with no delivery gets zeros, so that it is not scanned again);
 * - unsettled: the deliveries of the rows' hours that rows do not count, from the partial index
 *   ix_deliveries_webhook_unsettled (its predicate is repeated here word for word), by status.
 */
export const STATS_COUNTS_SQL = `
WITH live AS MATERIALIZED (
  SELECT date_bin(interval '1 hour', d.created_at, timestamptz 'epoch') AS hour, d.status,
         count(*) FILTER (WHERE d.created_at >= $4) AS n1, count(*) FILTER (WHERE d.created_at >= $5) AS n24,
         count(*) AS n7, count(*) FILTER (WHERE d.finished_at - d.created_at < interval '1 hour') AS settled
  FROM unnest($6::timestamptz[], $7::timestamptz[]) AS r(lo, hi)
  CROSS JOIN LATERAL (
    SELECT d.created_at, d.status, d.finished_at FROM deliveries d
    WHERE d.webhook_id = $2 AND d.orgcode = $1 AND d.created_at >= r.lo AND d.created_at < r.hi AND d.created_at <= $3
    OFFSET 0
  ) d
  GROUP BY 1, 2
), fill AS (
  INSERT INTO webhook_delivery_hours (webhook_id, hour, orgcode, success, failed, dead_letter)
  SELECT $2, f.hour, $1, coalesce(sum(l.settled) FILTER (WHERE l.status = 'success'), 0),
         coalesce(sum(l.settled) FILTER (WHERE l.status = 'failed'), 0),
         coalesce(sum(l.settled) FILTER (WHERE l.status = 'dead_letter'), 0)
  FROM unnest($8::timestamptz[]) AS f(hour) LEFT JOIN live l ON l.hour = f.hour
  GROUP BY f.hour
  ON CONFLICT DO NOTHING
)
SELECT 'live' AS part, hour, status, n1::int, n24::int, n7::int FROM live
UNION ALL
SELECT 'unsettled', NULL, d.status, (count(*) FILTER (WHERE rh.hour >= $4))::int,
       (count(*) FILTER (WHERE rh.hour >= $5))::int, count(*)::int
FROM unnest($9::timestamptz[]) AS rh(hour)
JOIN deliveries d ON date_bin(interval '1 hour', d.created_at, timestamptz 'epoch') = rh.hour
WHERE d.webhook_id = $2 AND d.orgcode = $1 AND d.created_at >= $10 AND d.created_at < $11
  AND (d.status NOT IN ('success', 'failed', 'dead_letter') OR d.finished_at IS NULL
       OR d.finished_at - d.created_at >= interval '1 hour')
GROUP BY d.status`;

const sinceHour = `started_at >= $3::timestamptz - interval '1 hour'`;
const sinceDay = `started_at >= $3::timestamptz - interval '24 hours'`;
const percentiles = (filter: string): string =>
  `percentile_cont(ARRAY[0.5, 0.95]::float8[]) WITHIN GROUP (ORDER BY duration_ms)${filter ? ` FILTER (WHERE ${filter})` : ''}`;
/** Attempt counts and p50/p95 durations for the three windows (index-only on ix_delivery_attempts_webhook_started). */
export const LATENCIES_SQL = `
SELECT count(*) FILTER (WHERE ${sinceHour})::int AS n1, count(*) FILTER (WHERE ${sinceDay})::int AS n24,
       count(*)::int AS n7, ${percentiles(sinceHour)} AS p1, ${percentiles(sinceDay)} AS p24, ${percentiles('')} AS p7
FROM delivery_attempts
WHERE webhook_id = $2 AND orgcode = $1
  AND started_at >= $3::timestamptz - interval '7 days' AND started_at <= $3::timestamptz`;

/** The parameters of {@link STATS_COUNTS_SQL} for a plan. */
export function statsCountParams(orgcode: string, webhookId: string, plan: StatsPlan): unknown[] {
  const hours = plan.rolled.map((r) => r.hour);
  const last = hours[hours.length - 1];
  return [
    orgcode,
    webhookId,
    plan.now,
    plan.since[0],
    plan.since[1],
    plan.ranges.map((r) => r.lo),
    plan.ranges.map((r) => r.hi),
    plan.fill,
    hours,
    hours[0] ?? plan.now,
    last ? new Date(last.getTime() + HOUR_MS) : plan.now,
  ];
}

export interface AttemptLatencies {
  attempts: [number, number, number];
  /** [p50, p95] per window (1h, 24h, 7d); null when no attempt started in it. */
  percentiles: [number[] | null, number[] | null, number[] | null];
}

export interface ReplayCounts {
  total: number;
  delivered: number;
  failed: number;
}

/**
 * Every query on `deliveries`, `delivery_attempts` and `webhook_replays` for the api. Each method
 * takes the tenant (and, for app principals, sees only the deliveries of that app's webhooks).
 */
@Injectable()
export class DeliveryRepository {
  constructor(
    @InjectRepository(DeliveryEntity) private readonly repo: Repository<DeliveryEntity>,
    @InjectRepository(DeliveryAttemptEntity) private readonly attemptRepo: Repository<DeliveryAttemptEntity>,
    @InjectRepository(WebhookReplayEntity) private readonly replayRepo: Repository<WebhookReplayEntity>,
  ) {}

  /** One keyset page of the scope's deliveries, newest first (delivery ids are ULIDs). */
  page(
    scope: WebhookScope,
    query: DeliveryQuery,
    cursor: Cursor | undefined,
    limit: number,
  ): Promise<{ rows: DeliveryEntity[]; next?: Cursor }> {
    const qb = this.visible(scope);
    if (query.webhook_id) qb.andWhere('d.webhook_id = :webhook_id', { webhook_id: query.webhook_id });
    if (query.status) qb.andWhere('d.status = :status', { status: query.status });
    if (query.event_type) qb.andWhere('d.event_type = :event_type', { event_type: query.event_type });
    if (query.after) qb.andWhere('d.created_at >= :after', { after: query.after });
    if (query.before) qb.andWhere('d.created_at < :before', { before: query.before });
    return fetchKeysetPage(
      qb,
      { columns: ['d.delivery_id'], direction: 'DESC', cursorOf: (r) => [r.delivery_id] },
      cursor,
      limit,
    );
  }

  /**
   * A delivery visible to `scope`, or null. With a transaction's manager and `lock`, the row is
   * locked FOR UPDATE until that transaction ends.
   */
  findVisible(
    scope: WebhookScope,
    deliveryId: string,
    em?: EntityManager,
    lock = false,
  ): Promise<DeliveryEntity | null> {
    const qb = this.visible(scope, em).andWhere('d.delivery_id = :delivery_id', { delivery_id: deliveryId });
    if (lock) qb.setLock('pessimistic_write');
    return qb.getOne();
  }

  /** The attempts of a delivery already found visible, in attempt order. */
  attempts(orgcode: string, deliveryId: string): Promise<DeliveryAttemptEntity[]> {
    return this.attemptRepo.find({
      where: { orgcode, delivery_id: deliveryId },
      order: { attempt_no: 'ASC', attempt_id: 'ASC' },
    });
  }

  /**
   * Deletes up to `batch` finished deliveries of one webhook (their attempts cascade), in one
   * statement, i.e. one short transaction; returns how many went.
   */
  async purgeFinishedBatch(
    orgcode: string,
    webhookId: string,
    finished: readonly DeliveryStatus[],
    batch: number,
  ): Promise<number> {
    const rows: Array<{ n: number }> = await this.repo.manager.query(
      `WITH gone AS (
         DELETE FROM deliveries WHERE delivery_id IN (
           SELECT delivery_id FROM deliveries
           WHERE orgcode = $1 AND webhook_id = $2 AND status = ANY($3::varchar[])
           LIMIT $4)
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [orgcode, webhookId, finished, batch],
    );
    return rows[0].n;
  }

  /**
   * Deletes a webhook's rolled-up stats hours, once its deliveries were deleted: they refill from what
   * is left. Under the webhook's hours lock, so that a fill that read the deliveries before the
   * delete commits before this runs (and is deleted too).
   */
  async forgetHours(orgcode: string, webhookId: string): Promise<void> {
    await this.repo.manager.transaction(async (em) => {
      await em.query(`SELECT pg_advisory_xact_lock(hashtext('${HOURS_LOCK}'), hashtext($1))`, [webhookId]);
      await em.query('DELETE FROM webhook_delivery_hours WHERE webhook_id = $2 AND orgcode = $1', [orgcode, webhookId]);
    });
  }

  /**
   * Deliveries created in the last 7 days by status, for each window, exactly: rolled-up hours
   * where they exist, the rest live (see stats-hours.ts); writes the rows that are due. Two statements.
   */
  async statusCounts(orgcode: string, webhookId: string, now: Date): Promise<StatusWindowCounts[]> {
    const { from, to } = rollableHours(now);
    const rows: HourRow[] = await this.repo.manager.query(STATS_HOURS_SQL, [orgcode, webhookId, from, to]);
    const plan = planStats(now, rows);
    const params = statsCountParams(orgcode, webhookId, plan);
    type Counted = Array<(LiveGroup & { part: 'live' }) | (UnsettledGroup & { part: 'unsettled' })>;
    // A read that writes rows holds the hours locks (shared): a purge or the retention job deletes
    // rows under them (exclusive), so no row counted from deliveries they delete outlives them.
    const counted: Counted = plan.fill.length
      ? await this.repo.manager.transaction(async (em) => {
          await em.query(
            `SELECT pg_advisory_xact_lock_shared(hashtext('${HOURS_LOCK}'), hashtext($1)),
                    pg_advisory_xact_lock_shared(hashtext('${HOURS_RETENTION_LOCK}'))`,
            [webhookId],
          );
          return em.query(STATS_COUNTS_SQL, params);
        })
      : await this.repo.manager.query(STATS_COUNTS_SQL, params);
    return combineCounts(
      plan,
      counted.filter((c) => c.part === 'live'),
      counted.filter((c) => c.part === 'unsettled'),
    );
  }

  /** Attempt counts and p50/p95 durations for the three windows, in one statement. */
  async latencies(orgcode: string, webhookId: string, now: Date): Promise<AttemptLatencies> {
    const rows: Array<{
      n1: number;
      n24: number;
      n7: number;
      p1: number[] | null;
      p24: number[] | null;
      p7: number[] | null;
    }> = await this.attemptRepo.manager.query(LATENCIES_SQL, [orgcode, webhookId, now]);
    const r = rows[0];
    return { attempts: [r.n1, r.n24, r.n7], percentiles: [r.p1, r.p24, r.p7] };
  }

  /** A replay of a webhook visible to `scope` (its webhook's app, for app principals), or null. */
  findReplay(scope: WebhookScope, replayId: string): Promise<WebhookReplayEntity | null> {
    const qb = this.replayRepo
      .createQueryBuilder('r')
      .where('r.replay_id = :replay_id', { replay_id: replayId })
      .andWhere('r.orgcode = :orgcode', { orgcode: scope.orgcode });
    if (scope.app_id) {
      qb.andWhere('EXISTS (SELECT 1 FROM webhooks w WHERE w.webhook_id = r.webhook_id AND w.app_id = :scope_app)', {
        scope_app: scope.app_id,
      });
    }
    return qb.getOne();
  }

  /** How the deliveries a replay created stand (ix_deliveries_replay). */
  async replayCounts(orgcode: string, replayId: string): Promise<ReplayCounts> {
    const rows: ReplayCounts[] = await this.repo.manager.query(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE status = 'success')::int AS delivered,
              count(*) FILTER (WHERE status IN ('failed', 'dead_letter'))::int AS failed
       FROM deliveries WHERE replay_id = $1 AND orgcode = $2`,
      [replayId, orgcode],
    );
    return rows[0];
  }

  private visible(scope: WebhookScope, em?: EntityManager): SelectQueryBuilder<DeliveryEntity> {
    const qb = (em ? em.getRepository(DeliveryEntity) : this.repo)
      .createQueryBuilder('d')
      .where('d.orgcode = :orgcode', { orgcode: scope.orgcode });
    // An app principal sees the deliveries of its app's webhooks, whoever published the event.
    if (scope.app_id) {
      qb.andWhere('EXISTS (SELECT 1 FROM webhooks w WHERE w.webhook_id = d.webhook_id AND w.app_id = :scope_app)', {
        scope_app: scope.app_id,
      });
    }
    return qb;
  }
}
