import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { AppError, IdPrefix, newId, Page, PageTokens } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { enqueueAfterCommit } from '@ipm/queues';
import { DeliveryMachine, type DeliveryStatus, statesWhere, terminalStates } from '@ipm/lifecycle';
import { DeliveryScheduler, NewDelivery } from '../engine/delivery-scheduler';
import type { DeliveryAttemptEntity } from '../entities/delivery-attempt.entity';
import type { DeliveryEntity } from '../entities/delivery.entity';
import type { WebhookEntity } from '../entities/webhook.entity';
import { WebhookRepository } from '../webhook.repository';
import { DeliveryRepository, StatusWindowCounts } from './delivery.repository';
import {
  DeliveryAttemptDto,
  DeliveryCountsDto,
  DeliveryDetailResultDto,
  DeliveryDto,
  DeliveryGetRequestDto,
  DeliveryListRequestDto,
  DeliveryPurgedDto,
  DeliveryPurgeRequestDto,
  DeliveryResultDto,
  DeliveryRetryRequestDto,
  DELIVERY_STATUSES,
  STATS_WINDOWS,
  WebhookStatsDto,
  WebhookStatsRequestDto,
  WindowStatsDto,
} from './dto/delivery.dto';

/** Terminal delivery states, from the lifecycle machine: what purge deletes and what stats call finished. */
export const FINISHED_STATUSES: readonly DeliveryStatus[] = terminalStates(DeliveryMachine);
/** The only states a manual retry starts from (a fresh delivery repeats them): the unsuccessful ends. */
export const RETRYABLE_STATUSES: readonly DeliveryStatus[] = statesWhere(
  DeliveryMachine,
  (s) => s.terminal === true && s.name !== 'success',
);
export const PURGE_BATCH = 1000;
const WINDOW_MS: Record<(typeof STATS_WINDOWS)[number], number> = {
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 604_800_000,
};

/** The delivery log: list, get, manual retry, purge, and per-webhook stats. */
@Injectable()
export class DeliveriesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly deliveries: DeliveryRepository,
    private readonly webhooks: WebhookRepository,
    private readonly scheduler: DeliveryScheduler,
    private readonly audit: AuditService,
    private readonly pages: PageTokens,
  ) {}

  async list(caller: Caller, request: DeliveryListRequestDto): Promise<Page<DeliveryDto>> {
    const filters = {
      webhook_id: request.webhook_id,
      status: request.status,
      event_type: request.event_type,
      after: request.after,
      before: request.before,
      order: request.order ?? 'desc',
      app: caller.app_id,
    };
    const scope = { orgcode: caller.orgcode, resource: 'webhook.delivery.list', filters };
    const { limit, cursor } = this.pages.read(request, scope);
    const { rows, next } = await this.deliveries.page(
      caller,
      {
        webhook_id: request.webhook_id,
        status: request.status,
        event_type: request.event_type,
        after: request.after === undefined ? undefined : new Date(request.after),
        before: request.before === undefined ? undefined : new Date(request.before),
        direction: filters.order === 'asc' ? 'ASC' : 'DESC',
      },
      cursor,
      limit,
    );
    return { items: rows.map(toDeliveryDto), next_token: this.pages.write(scope, next) };
  }

  async get(caller: Caller, request: DeliveryGetRequestDto): Promise<DeliveryDetailResultDto> {
    const row = await this.require(caller, request.delivery_id);
    const attempts = await this.deliveries.attempts(caller, row.delivery_id);
    return { delivery: { ...toDeliveryDto(row), attempts: attempts.map(toAttemptDto) } };
  }

  /** A fresh delivery of a failed or dead-lettered one (new id, so a new webhook-id), sent after commit. */
  async retry(caller: Caller, request: DeliveryRetryRequestDto): Promise<DeliveryResultDto> {
    const fresh = await this.dataSource.transaction(async (em) => {
      const old = await this.require(caller, request.delivery_id, em);
      if (!RETRYABLE_STATUSES.includes(old.status)) {
        throw AppError.unprocessable(
          `Only a failed or dead_letter delivery can be retried; this one is ${old.status}`,
          [{ field: 'delivery_id', message: `delivery is ${old.status}`, status: old.status }],
        );
      }
      const webhook = await this.webhooks.findVisible(caller, old.webhook_id, em);
      requireActive(webhook);
      const row: NewDelivery = {
        delivery_id: newId(IdPrefix.Delivery),
        orgcode: old.orgcode,
        app_id: old.app_id,
        webhook_id: old.webhook_id,
        event_seq: old.event_seq,
        event_id: old.event_id,
        event_type: old.event_type,
        payload: old.payload,
        origin: 'retry',
        retry_of: old.delivery_id,
        replay_id: null,
      };
      await this.scheduler.insert(em, [row]);
      await this.audit.record(em, caller, request, {
        action: 'webhook.delivery.retry',
        target_type: 'delivery',
        target_id: row.delivery_id,
        metadata: { webhook_id: old.webhook_id, retry_of: old.delivery_id, previous_status: old.status },
      });
      return row;
    });
    // After commit, waiting for Redis a bounded time: the pending delivery is the sweeper's if Redis is away.
    await enqueueAfterCommit(`delivery ${fresh.delivery_id}`, () => this.scheduler.enqueue([fresh]));
    return { delivery: toDeliveryDto(await this.require(caller, fresh.delivery_id)) };
  }

  /** Deletes the webhook's finished deliveries, 1,000 per short transaction, so that no lock is held long. */
  async purge(caller: Caller, request: DeliveryPurgeRequestDto): Promise<DeliveryPurgedDto> {
    const webhook = await this.webhooks.findVisible(caller, request.webhook_id);
    if (!webhook) throw AppError.notFound('Webhook');
    let purged = 0;
    for (;;) {
      const n = await this.deliveries.purgeFinishedBatch(caller, webhook.webhook_id, FINISHED_STATUSES, PURGE_BATCH);
      purged += n;
      if (n < PURGE_BATCH) break;
    }
    // The stats rows counted some of them; they refill from what is left.
    if (purged > 0) await this.deliveries.forgetHours(caller, webhook.webhook_id);
    await this.dataSource.transaction((em) =>
      this.audit.record(em, caller, request, {
        action: 'webhook.delivery.purge',
        target_type: 'webhook',
        target_id: webhook.webhook_id,
        metadata: { purged, statuses: FINISHED_STATUSES },
      }),
    );
    return { webhook_id: webhook.webhook_id, purged };
  }

  async stats(caller: Caller, request: WebhookStatsRequestDto): Promise<WebhookStatsDto> {
    const webhook = await this.webhooks.findVisible(caller, request.webhook_id);
    if (!webhook) throw AppError.notFound('Webhook');
    const now = new Date();
    const { counts, latencies } = await this.deliveries.windowStats(caller, webhook.webhook_id, now);
    const windows = STATS_WINDOWS.map((window, i): WindowStatsDto => {
      const key = (['h1', 'h24', 'd7'] as const)[i];
      const byStatus = countsFor(counts, key);
      const total = DELIVERY_STATUSES.reduce((a, s) => a + byStatus[s], 0);
      const finished = FINISHED_STATUSES.reduce((a, s) => a + byStatus[s], 0);
      const p = latencies.percentiles[i];
      return {
        window,
        since: new Date(now.getTime() - WINDOW_MS[window]).toISOString(),
        total,
        by_status: byStatus,
        success_rate: finished === 0 ? null : byStatus.success / finished,
        attempts: latencies.attempts[i],
        latency_ms: { p50: p?.[0] ?? null, p95: p?.[1] ?? null },
      };
    });
    return { webhook_id: webhook.webhook_id, as_of: now.toISOString(), windows };
  }

  private async require(caller: Caller, deliveryId: string, em?: EntityManager): Promise<DeliveryEntity> {
    const row = await this.deliveries.findVisible(caller, deliveryId, em, em !== undefined);
    if (!row) throw AppError.notFound('Delivery');
    return row;
  }
}

/** A 422 unless the webhook is live and active (paused, disabled or deleted ones receive nothing). */
export function requireActive(webhook: WebhookEntity | null): asserts webhook is WebhookEntity {
  if (!webhook) {
    throw AppError.unprocessable('The webhook of this delivery was deleted', [
      { field: 'delivery_id', message: 'webhook deleted' },
    ]);
  }
  if (webhook.status !== 'active') {
    throw AppError.unprocessable(`The webhook is ${webhook.status}: only an active webhook receives deliveries`, [
      { field: 'webhook_id', message: `webhook is ${webhook.status}`, status: webhook.status },
    ]);
  }
}

function countsFor(rows: readonly StatusWindowCounts[], key: 'h1' | 'h24' | 'd7'): DeliveryCountsDto {
  const counts: DeliveryCountsDto = { pending: 0, in_flight: 0, retrying: 0, success: 0, failed: 0, dead_letter: 0 };
  for (const row of rows) counts[row.status] += row[key];
  return counts;
}

export function toDeliveryDto(d: DeliveryEntity): DeliveryDto {
  return {
    delivery_id: d.delivery_id,
    orgcode: d.orgcode,
    app_id: d.app_id,
    webhook_id: d.webhook_id,
    event_seq: d.event_seq,
    event_id: d.event_id,
    event_type: d.event_type,
    status: d.status,
    origin: d.origin,
    retry_of: d.retry_of,
    replay_id: d.replay_id,
    attempt_count: d.attempt_count,
    next_attempt_at: d.next_attempt_at?.toISOString() ?? null,
    last_attempt_at: d.last_attempt_at?.toISOString() ?? null,
    last_status_code: d.last_status_code,
    last_error_kind: d.last_error_kind,
    last_error: d.last_error,
    last_duration_ms: d.last_duration_ms,
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
    finished_at: d.finished_at?.toISOString() ?? null,
  };
}

export function toAttemptDto(a: DeliveryAttemptEntity): DeliveryAttemptDto {
  return {
    attempt_no: a.attempt_no,
    started_at: a.started_at.toISOString(),
    duration_ms: a.duration_ms,
    status_code: a.status_code,
    error_kind: a.error_kind,
    error: a.error,
    response_headers: a.response_headers,
    response_excerpt: a.response_excerpt,
    outcome: a.outcome,
  };
}
