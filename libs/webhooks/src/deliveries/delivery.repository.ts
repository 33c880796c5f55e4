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

export interface DeliveryQuery {
  webhook_id?: string;
  status?: DeliveryStatus;
  event_type?: string;
  /** created_at >= after */
  after?: Date;
  /** created_at < before */
  before?: Date;
}

/** Per-status counts of the deliveries created in each stats window (1h, 24h, 7d). */
export interface StatusWindowCounts {
  status: DeliveryStatus;
  h1: number;
  h24: number;
  d7: number;
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
   * Deliveries created in the last 7 days by status, counted for each window at once (one scan
   * of ix_deliveries_webhook_created).
   */
  async statusCounts(orgcode: string, webhookId: string, now: Date): Promise<StatusWindowCounts[]> {
    return this.repo.manager.query(
      `SELECT status,
              count(*) FILTER (WHERE created_at >= $3::timestamptz - interval '1 hour')::int AS h1,
              count(*) FILTER (WHERE created_at >= $3::timestamptz - interval '24 hours')::int AS h24,
              count(*)::int AS d7
       FROM deliveries
       WHERE webhook_id = $2 AND orgcode = $1
         AND created_at >= $3::timestamptz - interval '7 days' AND created_at <= $3::timestamptz
       GROUP BY status`,
      [orgcode, webhookId, now],
    );
  }

  /** Attempt counts and p50/p95 durations for the three windows, in one statement. */
  async latencies(orgcode: string, webhookId: string, now: Date): Promise<AttemptLatencies> {
    const h1 = `started_at >= $3::timestamptz - interval '1 hour'`;
    const h24 = `started_at >= $3::timestamptz - interval '24 hours'`;
    const pct = (filter: string): string =>
      `percentile_cont(ARRAY[0.5, 0.95]::float8[]) WITHIN GROUP (ORDER BY duration_ms)${filter ? ` FILTER (WHERE ${filter})` : ''}`;
    const rows: Array<{
      n1: number;
      n24: number;
      n7: number;
      p1: number[] | null;
      p24: number[] | null;
      p7: number[] | null;
    }> = await this.attemptRepo.manager.query(
      `SELECT count(*) FILTER (WHERE ${h1})::int AS n1, count(*) FILTER (WHERE ${h24})::int AS n24,
              count(*)::int AS n7, ${pct(h1)} AS p1, ${pct(h24)} AS p24, ${pct('')} AS p7
       FROM delivery_attempts
       WHERE webhook_id = $2 AND orgcode = $1
         AND started_at >= $3::timestamptz - interval '7 days' AND started_at <= $3::timestamptz`,
      [orgcode, webhookId, now],
    );
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
