import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { acrossTenants } from '@ipm/persistence';
import { AppConfig } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { PlatformEvents } from '@ipm/events';
import {
  canFire,
  DeliveryMachine,
  fire,
  sqlStates,
  statesWhere,
  terminalStates,
  WebhookMachine,
  type WebhookStatus,
} from '@ipm/lifecycle';
import { shouldAutoPause } from '../delivery-policy';
import type { DeliveryErrorKind } from '../entities/delivery.entity';
import type { RetryPolicy } from '../entities/webhook.entity';
import { type AttemptDecision, consecutiveFailuresAfter } from './attempt-decision';

/** A delivery claimed for an attempt, with what sending it needs. */
export interface ClaimedDelivery {
  delivery_id: string;
  orgcode: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  /** 1-based number of the attempt now being made. */
  attempt: number;
  /** The event's payload as JSON text. */
  data: string;
  occurred_at: Date;
  webhook: {
    endpoint_url: string;
    status: WebhookStatus;
    is_deleted: boolean;
    headers: Record<string, string>;
    retry_policy: RetryPolicy;
    secret_sealed: string;
    previous_secret_sealed: string | null;
    previous_secret_expires_at: Date | null;
  } | null;
}

/**
 * Marks the deliveries `in_flight` (counting the attempt) and returns each with its event and
 * webhook, in one statement. Rows already finished are not returned (a duplicate job is a no-op).
 * An `in_flight` row is claimed again only when its id is in `$2`: the caller knows its attempt was
 * abandoned (its job came back after a stall or a failure, or the sweeper found it overdue). Otherwise
 * it belongs to a live attempt (e.g. a parked delivery run while its safety-net job also fired, maybe
 * in another worker) and claiming it again would send it twice.
 * The status test is written as "not finished" on purpose: `status IN ('pending', 'retrying',
 * 'in_flight')` would match the partial index ix_deliveries_due, which the planner then sometimes
 * scans whole (stale statistics on a growing table) instead of fetching the ids by primary key.
 * The payload comes as jsonb's text, spliced into the body as is (no parse and re-serialise).
 */
/** The delivery states where a delivery's story ends (`'success', 'failed', 'dead_letter'`). */
const FINISHED = sqlStates(terminalStates(DeliveryMachine));

/** Every delivery state but `in_flight`: "= 'in_flight'" spelled so that no partial index matches. */
const NOT_IN_FLIGHT = sqlStates(statesWhere(DeliveryMachine, (s) => s.name !== 'in_flight'));

const CLAIM_SQL = `
WITH claimed AS (
  UPDATE deliveries d
     SET status = 'in_flight', attempt_count = d.attempt_count + 1, last_attempt_at = now(),
         next_attempt_at = now(), updated_at = now()
   WHERE d.delivery_id = ANY($1::varchar[]) AND d.status NOT IN (${FINISHED})
     AND (d.status <> 'in_flight' OR d.delivery_id = ANY($2::varchar[]))
  RETURNING d.delivery_id, d.orgcode, d.webhook_id, d.event_seq, d.event_id, d.event_type, d.payload,
            d.attempt_count, d.created_at
)
SELECT c.delivery_id, c.orgcode, c.webhook_id, c.event_id, c.event_type, c.attempt_count,
       COALESCE(e.payload, c.payload)::text AS data, COALESCE(e.occurred_at, c.created_at) AS occurred_at,
       w.webhook_id AS w_id, w.endpoint_url, w.status AS w_status, w.is_deleted, w.headers, w.retry_policy,
       w.secret_sealed, w.previous_secret_sealed, w.previous_secret_expires_at
  FROM claimed c
  LEFT JOIN events e ON e.seq = c.event_seq
  LEFT JOIN webhooks w ON w.webhook_id = c.webhook_id`;

interface ClaimRow {
  delivery_id: string;
  orgcode: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  attempt_count: number;
  data: string;
  occurred_at: Date;
  w_id: string | null;
  endpoint_url: string;
  w_status: WebhookStatus;
  is_deleted: boolean;
  headers: Record<string, string>;
  retry_policy: RetryPolicy;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
}

/** The outcome of one claimed delivery, to be written. */
export interface AttemptRecord {
  delivery_id: string;
  orgcode: string;
  webhook_id: string;
  /** The new state: where the attempt's named transition led (AttemptDecision). */
  status: AttemptDecision['status'];
  /** False when no request was made (the webhook was paused, disabled or deleted): no attempt row, no health change. */
  attempted: boolean;
  attempt_no: number;
  started_at: Date;
  duration_ms: number;
  status_code: number | null;
  error_kind: DeliveryErrorKind | null;
  error: string | null;
  response_headers: Record<string, string>;
  response_excerpt: string;
  /** When the next attempt is due (retrying). */
  next_attempt_at: Date | null;
  /** 410 Gone: the webhook is disabled. */
  disable_webhook: boolean;
}

/** Updates the deliveries still `in_flight` and writes their attempts, in one statement. */
const RECORD_SQL = `
WITH r AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    delivery_id varchar, status varchar, attempted boolean, attempt_no int, started_at timestamptz,
    duration_ms int, status_code int, error_kind varchar, error text, response_headers jsonb,
    response_excerpt text, next_attempt_at timestamptz, orgcode varchar, webhook_id varchar)
), updated AS (
  UPDATE deliveries d
     SET status = r.status, next_attempt_at = r.next_attempt_at, last_status_code = r.status_code,
         last_error_kind = r.error_kind, last_error = r.error,
         last_duration_ms = CASE WHEN r.attempted THEN r.duration_ms ELSE d.last_duration_ms END,
         updated_at = now(), finished_at = CASE WHEN r.status IN (${FINISHED}) THEN now() END
    FROM r
   WHERE d.delivery_id = r.delivery_id
     -- = 'in_flight', spelled so that the planner cannot pick the partial index ix_deliveries_due (see CLAIM_SQL)
     AND d.status NOT IN (${NOT_IN_FLIGHT})
  RETURNING d.delivery_id
), attempts AS (
  INSERT INTO delivery_attempts (delivery_id, orgcode, webhook_id, attempt_no, started_at, duration_ms, status_code,
                                 error_kind, error, response_headers, response_excerpt, outcome)
  SELECT r.delivery_id, r.orgcode, r.webhook_id, r.attempt_no, r.started_at, r.duration_ms, r.status_code,
         r.error_kind, r.error, r.response_headers, r.response_excerpt, r.status
    FROM r JOIN updated u ON u.delivery_id = r.delivery_id
   WHERE r.attempted
)
SELECT delivery_id FROM updated`;

interface LockedWebhook {
  webhook_id: string;
  orgcode: string;
  app_id: string | null;
  name: string;
  endpoint_url: string;
  status: WebhookStatus;
  consecutive_failures: number;
  retry_policy: RetryPolicy;
  revision: number;
  is_deleted: boolean;
}

/** The engine's own identity when it changes a webhook (auto-pause, 410): events and `updated_by` name it. */
export const ENGINE_ACTOR = 'ipm-delivery-engine';

function engineCaller(webhook: LockedWebhook): Caller {
  return {
    kind: 'system',
    actor_id: ENGINE_ACTOR,
    orgs: [webhook.orgcode],
    orgcode: webhook.orgcode,
    permissions: [],
    app_id: webhook.app_id,
  };
}

/**
 * The delivery engine's reads and writes, each batched: one statement claims many deliveries,
 * one transaction records many attempts, updates their webhooks' health, and pauses (after N
 * consecutive failures) or disables (410 Gone) webhooks with their platform events.
 */
@Injectable()
export class DeliveryStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly events: PlatformEvents,
    private readonly config: AppConfig,
  ) {}

  /** Claims `ids`; those also in `reclaimable` even when `in_flight` (an abandoned attempt). */
  async claim(ids: readonly string[], reclaimable: readonly string[] = []): Promise<Map<string, ClaimedDelivery>> {
    const rows = await acrossTenants('a delivery job names its delivery by id; the row carries its tenant', () =>
      this.dataSource.query<ClaimRow[]>(CLAIM_SQL, [ids, reclaimable]),
    );
    const claimed = new Map<string, ClaimedDelivery>();
    for (const r of rows) {
      claimed.set(r.delivery_id, {
        delivery_id: r.delivery_id,
        orgcode: r.orgcode,
        webhook_id: r.webhook_id,
        event_id: r.event_id,
        event_type: r.event_type,
        attempt: r.attempt_count,
        data: r.data,
        occurred_at: r.occurred_at,
        webhook:
          r.w_id === null
            ? null
            : {
                endpoint_url: r.endpoint_url,
                status: r.w_status,
                is_deleted: r.is_deleted,
                headers: r.headers,
                retry_policy: r.retry_policy,
                secret_sealed: r.secret_sealed,
                previous_secret_sealed: r.previous_secret_sealed,
                previous_secret_expires_at: r.previous_secret_expires_at,
              },
      });
    }
    return claimed;
  }

  /**
   * Writes the attempts and the deliveries' new states, and keeps the webhooks' health current,
   * in one transaction. The webhooks are locked in id order first, so concurrent batches (other
   * queues, other workers) queue up instead of deadlocking. Returns the ids actually updated
   * (a row no longer `in_flight` is left alone).
   */
  async record(records: readonly AttemptRecord[]): Promise<Set<string>> {
    return this.dataSource.transaction(async (em) => {
      const webhookIds = [...new Set(records.map((r) => r.webhook_id))].sort();
      const locked = await em.query<LockedWebhook[]>(
        `SELECT webhook_id, orgcode, app_id, name, endpoint_url, status, consecutive_failures, retry_policy, revision,
                is_deleted
           FROM webhooks WHERE webhook_id = ANY($1::varchar[]) ORDER BY webhook_id FOR UPDATE`,
        [webhookIds],
      );
      const rows = await em.query<Array<{ delivery_id: string }>>(RECORD_SQL, [
        JSON.stringify(
          records.map((r) => ({
            ...r,
            started_at: r.started_at.toISOString(),
            next_attempt_at: r.next_attempt_at?.toISOString() ?? null,
            duration_ms: Math.round(r.duration_ms),
            error: r.error?.slice(0, 1000) ?? null,
          })),
        ),
      ]);
      const updated = new Set(rows.map((r) => r.delivery_id));
      await this.updateHealth(
        em,
        locked,
        records.filter((r) => r.attempted && updated.has(r.delivery_id)),
      );
      return updated;
    });
  }

  private async updateHealth(em: EntityManager, locked: LockedWebhook[], records: AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    const byWebhook = new Map<string, AttemptRecord[]>();
    for (const r of records) {
      const list = byWebhook.get(r.webhook_id) ?? [];
      list.push(r);
      byWebhook.set(r.webhook_id, list);
    }
    const changes: Array<{
      webhook_id: string;
      consecutive_failures: number;
      last_status: string;
      status: WebhookStatus;
      status_changed: boolean;
    }> = [];
    const statusEvents: Array<{ webhook: LockedWebhook; to: WebhookStatus; failures: number }> = [];
    for (const w of locked) {
      const list = byWebhook.get(w.webhook_id);
      if (!list) continue;
      const failures = consecutiveFailuresAfter(
        w.consecutive_failures,
        list.map((r) => r.status === 'success'),
      );
      let status = w.status;
      if (!w.is_deleted && list.some((r) => r.disable_webhook) && canFire(WebhookMachine, status, 'disable')) {
        status = fire(WebhookMachine, status, 'disable');
      } else if (
        !w.is_deleted &&
        canFire(WebhookMachine, status, 'pause') &&
        shouldAutoPause(failures, w.retry_policy.auto_pause_after ?? this.config.WEBHOOK_AUTO_PAUSE_FAILURES)
      ) {
        status = fire(WebhookMachine, status, 'pause');
      }
      changes.push({
        webhook_id: w.webhook_id,
        consecutive_failures: failures,
        last_status: list[list.length - 1].status,
        status,
        status_changed: status !== w.status,
      });
      if (status !== w.status) statusEvents.push({ webhook: w, to: status, failures });
    }
    await em.query(
      `UPDATE webhooks w
          SET consecutive_failures = x.consecutive_failures, last_delivery_at = now(), last_delivery_status = x.last_status,
              status = x.status,
              paused_at = CASE WHEN x.status_changed AND x.status = 'paused' THEN now() ELSE w.paused_at END,
              revision = CASE WHEN x.status_changed THEN w.revision + 1 ELSE w.revision END,
              updated_at = CASE WHEN x.status_changed THEN now() ELSE w.updated_at END,
              updated_by = CASE WHEN x.status_changed THEN $2 ELSE w.updated_by END
         FROM jsonb_to_recordset($1::jsonb)
           AS x(webhook_id varchar, consecutive_failures int, last_status varchar, status varchar, status_changed boolean)
        WHERE w.webhook_id = x.webhook_id`,
      [JSON.stringify(changes), ENGINE_ACTOR],
    );
    for (const { webhook, to, failures } of statusEvents) {
      await this.emitStatusChange(em, webhook, to, failures);
    }
  }

  /** The same events a person's status change emits: `webhook.status_changed` and the specific one. */
  private async emitStatusChange(
    em: EntityManager,
    webhook: LockedWebhook,
    to: WebhookStatus,
    failures: number,
  ): Promise<void> {
    const caller = engineCaller(webhook);
    const reason =
      to === 'paused' ? `${failures} consecutive failed delivery attempts` : 'the endpoint answered 410 Gone';
    const summary = {
      webhook_id: webhook.webhook_id,
      name: webhook.name || null,
      endpoint_url: webhook.endpoint_url,
      status: to,
      revision: String(webhook.revision + 1),
    };
    const options = { logical_guid: webhook.webhook_id };
    await this.events.emit(
      em,
      caller,
      'webhook.status_changed',
      { ...summary, from: webhook.status, to, reason },
      options,
    );
    if (to === 'paused') {
      await this.events.emit(
        em,
        caller,
        'webhook.paused',
        { ...summary, reason, consecutive_failures: failures },
        options,
      );
    } else {
      await this.events.emit(em, caller, 'webhook.disabled', { ...summary, reason }, options);
    }
  }
}
