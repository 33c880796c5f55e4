import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager, SelectQueryBuilder } from 'typeorm';
import type { Cursor } from '@ipm/core';
import { DeliveryMachine, type DeliveryStatus, sqlStates, statesWhere, terminalStates } from '@ipm/lifecycle';
import { fetchKeysetPage, TenantRepository, type TenantScope } from '@ipm/persistence';
import { DeliveryAttemptEntity } from '../entities/delivery-attempt.entity';
import { DeliveryEntity } from '../entities/delivery.entity';
import { WebhookReplayEntity } from '../entities/webhook-replay.entity';
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
import { AttemptLatencies, combineLatencies, decodeInt4Array, LiveDurations } from './stats-latencies';

export interface DeliveryQuery {
  webhook_id?: string;
  status?: DeliveryStatus;
  event_type?: string;
  /** created_at >= after */
  after?: Date;
  /** created_at < before */
  before?: Date;
  /** By delivery_id (a ULID: creation order); newest first by default. */
  direction?: 'ASC' | 'DESC';
}

/** A delivery's unsuccessful ends (failed, dead_letter), from the machine: a replay's `failed` count. */
const UNSUCCESSFUL_ENDS = statesWhere(DeliveryMachine, (s) => s.terminal === true && s.name !== 'success');

export type { StatusWindowCounts } from './stats-hours';
export type { AttemptLatencies } from './stats-latencies';

/**
 * A webhook's rolled-up hours that a stats read at `now` may use (see stats-hours.ts), histograms
 * included, sent in binary (array_send; see {@link toHourRow}): ~170 rows of up to a few hundred
 * pairs each, which the pg driver's text array parser takes several times longer to read.
 */
export const STATS_HOURS_SQL = `
SELECT hour, success, failed, dead_letter, attempts,
       array_send(durations) AS durations, array_send(duration_counts) AS duration_counts
FROM webhook_delivery_hours
WHERE webhook_id = $2 AND orgcode = $1 AND hour >= $3 AND hour <= $4`;

/** A row of {@link STATS_HOURS_SQL} as the pg driver returns it. */
export type StoredHourRow = Omit<HourRow, 'durations' | 'duration_counts'> & {
  durations: Buffer;
  duration_counts: Buffer;
};

export const toHourRow = (r: StoredHourRow): HourRow => ({
  ...r,
  durations: decodeInt4Array(r.durations),
  duration_counts: decodeInt4Array(r.duration_counts),
});

/**
 * The rest of a stats read, in one statement (parameters: {@link statsLiveParams}):
 * - live: the deliveries of the ranges not covered by rows, one index range scan per range (the
 *   OFFSET 0 keeps the lateral subquery from being flattened into one scan of the webhook's rows),
 *   grouped by hour and status, with how many are settled;
 * - tries: the attempts started in the same ranges, likewise (index-only on
 *   ix_delivery_attempts_webhook_started), grouped by hour and duration;
 * - fill: rows for the hours that are final and have none yet, from those live groups (an hour
 *   with no delivery and no attempt gets zeros and empty histograms, so that it is not scanned again);
 * - unsettled: the deliveries of the rows' hours that rows do not count, from the partial index
 *   ix_deliveries_webhook_unsettled (its predicate is repeated here word for word), by status.
 */
export const STATS_LIVE_SQL = `
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
), tries AS MATERIALIZED (
  SELECT date_bin(interval '1 hour', a.started_at, timestamptz 'epoch') AS hour, a.duration_ms,
         count(*) FILTER (WHERE a.started_at >= $4) AS n1, count(*) FILTER (WHERE a.started_at >= $5) AS n24,
         count(*) AS n7
  FROM unnest($6::timestamptz[], $7::timestamptz[]) AS r(lo, hi)
  CROSS JOIN LATERAL (
    SELECT a.started_at, a.duration_ms FROM delivery_attempts a
    WHERE a.webhook_id = $2 AND a.orgcode = $1 AND a.started_at >= r.lo AND a.started_at < r.hi AND a.started_at <= $3
    OFFSET 0
  ) a
  GROUP BY 1, 2
), fill AS (
  INSERT INTO webhook_delivery_hours
    (webhook_id, hour, orgcode, success, failed, dead_letter, attempts, durations, duration_counts)
  SELECT $2, f.hour, $1, c.success, c.failed, c.dead_letter, t.attempts, t.durations, t.duration_counts
  FROM unnest($8::timestamptz[]) AS f(hour)
  CROSS JOIN LATERAL (
    SELECT coalesce(sum(l.settled) FILTER (WHERE l.status = 'success'), 0) AS success,
           coalesce(sum(l.settled) FILTER (WHERE l.status = 'failed'), 0) AS failed,
           coalesce(sum(l.settled) FILTER (WHERE l.status = 'dead_letter'), 0) AS dead_letter
    FROM live l WHERE l.hour = f.hour
  ) c
  CROSS JOIN LATERAL (
    SELECT coalesce(sum(t.n7), 0) AS attempts,
           coalesce(array_agg(t.duration_ms ORDER BY t.duration_ms), '{}') AS durations,
           coalesce(array_agg(t.n7::int ORDER BY t.duration_ms), '{}') AS duration_counts
    FROM tries t WHERE t.hour = f.hour
  ) t
  ON CONFLICT DO NOTHING
)
SELECT 'live' AS part, hour, status, n1::int, n24::int, n7::int, NULL::int AS duration_ms FROM live
UNION ALL
SELECT 'tries', hour, NULL, n1::int, n24::int, n7::int, duration_ms FROM tries
UNION ALL
SELECT 'unsettled', NULL, d.status, (count(*) FILTER (WHERE rh.hour >= $4))::int,
       (count(*) FILTER (WHERE rh.hour >= $5))::int, count(*)::int, NULL
FROM unnest($9::timestamptz[]) AS rh(hour)
JOIN deliveries d ON date_bin(interval '1 hour', d.created_at, timestamptz 'epoch') = rh.hour
WHERE d.webhook_id = $2 AND d.orgcode = $1 AND d.created_at >= $10 AND d.created_at < $11
  AND (d.status NOT IN (${sqlStates(terminalStates(DeliveryMachine))}) OR d.finished_at IS NULL
       OR d.finished_at - d.created_at >= interval '1 hour')
GROUP BY d.status`;

/** The parameters of {@link STATS_LIVE_SQL} for a plan. */
export function statsLiveParams(orgcode: string, webhookId: string, plan: StatsPlan): unknown[] {
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

export interface WebhookWindowStats {
  counts: StatusWindowCounts[];
  latencies: AttemptLatencies;
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
  /** Deliveries by tenant only: an app principal's are those of its app's webhooks (see visible()). */
  private readonly rows: TenantRepository<DeliveryEntity>;
  private readonly attemptRows: TenantRepository<DeliveryAttemptEntity>;
  private readonly replayRows: TenantRepository<WebhookReplayEntity>;
  private readonly manager: EntityManager;

  constructor(@InjectDataSource() dataSource: DataSource) {
    this.manager = dataSource.manager;
    this.rows = new TenantRepository(DeliveryEntity, this.manager);
    this.attemptRows = new TenantRepository(DeliveryAttemptEntity, this.manager);
    this.replayRows = new TenantRepository(WebhookReplayEntity, this.manager);
  }

  /** One keyset page of the scope's deliveries, newest first (delivery ids are ULIDs). */
  page(
    scope: TenantScope,
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
      { columns: ['d.delivery_id'], direction: query.direction ?? 'DESC', cursorOf: (r) => [r.delivery_id] },
      cursor,
      limit,
    );
  }

  /**
   * A delivery visible to `scope`, or null. With a transaction's manager and `lock`, the row is
   * locked FOR UPDATE until that transaction ends.
   */
  findVisible(
    scope: TenantScope,
    deliveryId: string,
    em?: EntityManager,
    lock = false,
  ): Promise<DeliveryEntity | null> {
    const qb = this.visible(scope, em).andWhere('d.delivery_id = :delivery_id', { delivery_id: deliveryId });
    if (lock) qb.setLock('pessimistic_write');
    return qb.getOne();
  }

  /** The attempts of a delivery already found visible, in attempt order. */
  attempts(scope: TenantScope, deliveryId: string): Promise<DeliveryAttemptEntity[]> {
    return this.attemptRows.find(
      scope,
      { delivery_id: deliveryId },
      { order: { attempt_no: 'ASC', attempt_id: 'ASC' } },
    );
  }

  /**
   * Deletes up to `batch` finished deliveries of one webhook (their attempts cascade), in one
   * statement, i.e. one short transaction; returns how many went.
   */
  async purgeFinishedBatch(
    scope: TenantScope,
    webhookId: string,
    finished: readonly DeliveryStatus[],
    batch: number,
  ): Promise<number> {
    const rows: Array<{ n: number }> = await this.manager.query(
      `WITH gone AS (
         DELETE FROM deliveries WHERE delivery_id IN (
           SELECT delivery_id FROM deliveries
           WHERE orgcode = $1 AND webhook_id = $2 AND status = ANY($3::varchar[])
           LIMIT $4)
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [scope.orgcode, webhookId, finished, batch],
    );
    return rows[0].n;
  }

  /**
   * Deletes a webhook's rolled-up stats hours, once its deliveries were deleted: they refill from what
   * is left. Under the webhook's hours lock, so that a fill that read the deliveries before the
   * delete commits before this runs (and is deleted too).
   */
  async forgetHours(scope: TenantScope, webhookId: string): Promise<void> {
    await this.manager.transaction(async (em) => {
      await em.query(`SELECT pg_advisory_xact_lock(hashtext('${HOURS_LOCK}'), hashtext($1))`, [webhookId]);
      await em.query('DELETE FROM webhook_delivery_hours WHERE webhook_id = $2 AND orgcode = $1', [
        scope.orgcode,
        webhookId,
      ]);
    });
  }

  /**
   * Deliveries created in the last 7 days by status, and the count and p50/p95 durations of the
   * attempts started then, for each window, exactly: rolled-up hours where they exist, the rest live
   * (see stats-hours.ts, stats-latencies.ts); writes the rows that are due. Two statements.
   */
  async windowStats(scope: TenantScope, webhookId: string, now: Date): Promise<WebhookWindowStats> {
    const { from, to } = rollableHours(now);
    const stored: StoredHourRow[] = await this.manager.query(STATS_HOURS_SQL, [scope.orgcode, webhookId, from, to]);
    const plan = planStats(now, stored.map(toHourRow));
    const params = statsLiveParams(scope.orgcode, webhookId, plan);
    type Found = Array<
      (LiveGroup & { part: 'live' }) | (UnsettledGroup & { part: 'unsettled' }) | (LiveDurations & { part: 'tries' })
    >;
    // A read that writes rows holds the hours locks (shared): a purge or the retention job deletes
    // rows under them (exclusive), so no row counted from deliveries they delete outlives them.
    // Attempts go with their deliveries (cascade) and started before those finished, so a histogram
    // that may hold a deleted attempt is in a row that the purge or retention deletes anyway.
    const found: Found = plan.fill.length
      ? await this.manager.transaction(async (em) => {
          await em.query(
            `SELECT pg_advisory_xact_lock_shared(hashtext('${HOURS_LOCK}'), hashtext($1)),
                    pg_advisory_xact_lock_shared(hashtext('${HOURS_RETENTION_LOCK}'))`,
            [webhookId],
          );
          return em.query(STATS_LIVE_SQL, params);
        })
      : await this.manager.query(STATS_LIVE_SQL, params);
    const live: LiveGroup[] = [];
    const unsettled: UnsettledGroup[] = [];
    const tries: LiveDurations[] = [];
    for (const f of found) {
      if (f.part === 'live') live.push(f);
      else if (f.part === 'unsettled') unsettled.push(f);
      else tries.push(f);
    }
    return { counts: combineCounts(plan, live, unsettled), latencies: combineLatencies(plan, tries) };
  }

  /** A replay of a webhook visible to `scope` (its webhook's app, for app principals), or null. */
  findReplay(scope: TenantScope, replayId: string): Promise<WebhookReplayEntity | null> {
    const qb = this.replayRows.query(scope, 'r').andWhere('r.replay_id = :replay_id', { replay_id: replayId });
    if (scope.app_id) {
      qb.andWhere('EXISTS (SELECT 1 FROM webhooks w WHERE w.webhook_id = r.webhook_id AND w.app_id = :scope_app)', {
        scope_app: scope.app_id,
      });
    }
    return qb.getOne();
  }

  /** How the deliveries a replay created stand (ix_deliveries_replay). */
  async replayCounts(scope: TenantScope, replayId: string): Promise<ReplayCounts> {
    const rows: ReplayCounts[] = await this.manager.query(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE status = 'success')::int AS delivered,
              count(*) FILTER (WHERE status IN (${sqlStates(UNSUCCESSFUL_ENDS)}))::int AS failed
       FROM deliveries WHERE replay_id = $1 AND orgcode = $2`,
      [replayId, scope.orgcode],
    );
    return rows[0];
  }

  private visible(scope: TenantScope, em?: EntityManager): SelectQueryBuilder<DeliveryEntity> {
    // By tenant alone here (deliveries.app_id is the event's app, not the webhook's).
    const qb = this.rows.query({ orgcode: scope.orgcode }, 'd', em);
    // An app principal sees the deliveries of its app's webhooks, whoever published the event.
    if (scope.app_id) {
      qb.andWhere('EXISTS (SELECT 1 FROM webhooks w WHERE w.webhook_id = d.webhook_id AND w.app_id = :scope_app)', {
        scope_app: scope.app_id,
      });
    }
    return qb;
  }
}
