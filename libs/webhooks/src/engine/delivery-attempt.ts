import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig, SecretBox } from '@ipm/core';
import { AttemptResult, DeliveryClient } from '../delivery-client';
import { signDelivery } from '../signing';
import { decideAttempt } from './attempt-decision';
import { DeliveryMetrics } from './delivery-metrics';
import { AttemptRecord, ClaimedDelivery, DeliveryStore } from './delivery-store';
import { MicroBatcher } from './micro-batcher';

/** The User-Agent of every delivery. */
export const DELIVERY_USER_AGENT = 'IPM-Webhooks/1.0';

/** What a delivery job did, as the job's return value (kept on completed jobs for a while, for inspection). */
export interface DeliveryJobResult {
  delivery_id: string;
  /** `skipped`: already finished (a duplicate job); `deferred`: over its endpoint's cap, parked (see EndpointPark). */
  status: AttemptRecord['status'] | 'skipped' | 'deferred';
  attempt?: number;
  status_code?: number | null;
}

/** A next attempt to enqueue: its row says `retrying`, due in `delayMs`. */
export interface RetryDue {
  delivery_id: string;
  webhook_id: string;
  /** The number of the attempt to make. */
  attempt: number;
  delayMs: number;
}

/** One attempt's result, and the retry to enqueue if it led to one. */
export interface AttemptDone {
  result: DeliveryJobResult;
  retry?: RetryDue;
}

/** A claim of one delivery; `reclaim`: even if `in_flight` (its attempt was abandoned). */
interface ClaimRequest {
  deliveryId: string;
  reclaim: boolean;
}

/**
 * One delivery attempt: claim the row (batched with other attempts' claims), sign and POST, then
 * record the outcome (batched too) and say whether a retry is due; the queues are the executor's.
 */
@Injectable()
export class DeliveryAttempts implements OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryAttempts.name);
  private readonly client: DeliveryClient;
  private readonly secrets = new Map<string, string>();
  private readonly claims: MicroBatcher<ClaimRequest, ClaimedDelivery | undefined>;
  private readonly records: MicroBatcher<AttemptRecord, boolean>;

  constructor(
    private readonly store: DeliveryStore,
    private readonly box: SecretBox,
    config: AppConfig,
    private readonly metrics: DeliveryMetrics,
  ) {
    this.client = new DeliveryClient({
      allowlist: config.allowlist,
      userAgent: DELIVERY_USER_AGENT,
      // Several webhooks may share an origin: the per-webhook cap is enforced above the pool, not by it.
      maxSocketsPerOrigin: Math.max(config.DELIVERY_CONCURRENCY, config.RETRY_CONCURRENCY),
    });
    this.claims = new MicroBatcher(
      async (requests: ClaimRequest[]) => {
        const ids = [...new Set(requests.map((r) => r.deliveryId))];
        const reclaimable = [...new Set(requests.filter((r) => r.reclaim).map((r) => r.deliveryId))];
        const claimed = await this.store.claim(ids, reclaimable);
        // The same delivery twice in one flush (its job and its parked run): only the first gets the claim.
        return requests.map((r) => {
          const row = claimed.get(r.deliveryId);
          claimed.delete(r.deliveryId);
          return row;
        });
      },
      { maxBatch: 256, maxConcurrent: 2 },
    );
    this.records = new MicroBatcher(
      async (records) => {
        const updated = await this.store.record(records);
        // Counted once per batch, and only what was written (a stale record changes nothing).
        this.metrics.recordAttempts(records.filter((r) => updated.has(r.delivery_id)));
        return records.map((r) => updated.has(r.delivery_id));
      },
      { maxBatch: 512, maxConcurrent: 1 },
    );
  }

  onApplicationShutdown(): void {
    this.client.close();
  }

  /** One attempt; `reclaim`: the row may be taken over from an abandoned attempt (see DeliveryJob.reclaim). */
  async attempt(deliveryId: string, reclaim: boolean): Promise<AttemptDone> {
    const claimed = await this.claims.submit({ deliveryId, reclaim });
    if (!claimed) return { result: { delivery_id: deliveryId, status: 'skipped' } };
    const startedAt = new Date();
    const webhook = claimed.webhook;
    if (!webhook || webhook.is_deleted || webhook.status !== 'active') {
      const why = !webhook || webhook.is_deleted ? 'the webhook was deleted' : `the webhook is ${webhook.status}`;
      await this.records.submit(notAttempted(claimed, startedAt, why));
      return { result: { delivery_id: deliveryId, status: 'failed', attempt: claimed.attempt } };
    }

    // `{ type, timestamp, data }`, with the payload's JSON text spliced in as stored.
    const body = `{"type":${JSON.stringify(claimed.event_type)},"timestamp":"${claimed.occurred_at.toISOString()}","data":${claimed.data}}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signDelivery(this.signingSecrets(claimed, webhook), claimed.delivery_id, timestamp, body);
    const result = await this.client.post(
      webhook.endpoint_url,
      body,
      { ...webhook.headers, ...signature },
      webhook.retry_policy.timeout_ms,
    );
    const decision = decideAttempt(result, claimed.attempt, webhook.retry_policy.max_attempts, new Date());
    const nextAt = decision.retryDelayMs === null ? null : new Date(Date.now() + decision.retryDelayMs);
    const written = await this.records.submit(
      attempted(
        claimed,
        startedAt,
        result,
        decision.status,
        decision.errorKind,
        nextAt,
        decision.webhookAction === 'disable',
      ),
    );
    this.logger.debug({
      msg: 'delivery attempted',
      tenant: claimed.orgcode,
      attempt: claimed.attempt,
      outcome: decision.status,
      status_code: result.status,
      error_kind: decision.errorKind,
      duration_ms: Date.now() - startedAt.getTime(),
      next_attempt_at: nextAt?.toISOString() ?? null,
    });
    return {
      result: {
        delivery_id: deliveryId,
        status: decision.status,
        attempt: claimed.attempt,
        status_code: result.status,
      },
      retry:
        written && decision.status === 'retrying' && decision.retryDelayMs !== null
          ? {
              delivery_id: claimed.delivery_id,
              webhook_id: claimed.webhook_id,
              attempt: claimed.attempt + 1,
              delayMs: decision.retryDelayMs,
            }
          : undefined,
    };
  }

  /** The current secret, and the previous one during its grace period; opened once per sealed value. */
  private signingSecrets(claimed: ClaimedDelivery, webhook: NonNullable<ClaimedDelivery['webhook']>): string[] {
    const secrets = [this.open(webhook.secret_sealed, claimed.webhook_id)];
    if (
      webhook.previous_secret_sealed &&
      webhook.previous_secret_expires_at &&
      new Date(webhook.previous_secret_expires_at).getTime() > Date.now()
    ) {
      secrets.push(this.open(webhook.previous_secret_sealed, claimed.webhook_id));
    }
    return secrets;
  }

  private open(sealed: string, webhookId: string): string {
    let secret = this.secrets.get(sealed);
    if (secret === undefined) {
      secret = this.box.openText(sealed, webhookId);
      if (this.secrets.size >= 10_000) this.secrets.clear();
      this.secrets.set(sealed, secret);
    }
    return secret;
  }
}

/** PostgreSQL text cannot hold U+0000, which a receiver's body may. */
function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.split('\u0000').join('\uFFFD') : text;
}

function notAttempted(claimed: ClaimedDelivery, startedAt: Date, why: string): AttemptRecord {
  return {
    delivery_id: claimed.delivery_id,
    orgcode: claimed.orgcode,
    webhook_id: claimed.webhook_id,
    status: 'failed',
    attempted: false,
    attempt_no: claimed.attempt,
    started_at: startedAt,
    duration_ms: 0,
    status_code: null,
    error_kind: null,
    error: `not sent: ${why}`,
    response_headers: {},
    response_excerpt: '',
    next_attempt_at: null,
    disable_webhook: false,
  };
}

function attempted(
  claimed: ClaimedDelivery,
  startedAt: Date,
  result: AttemptResult,
  status: AttemptRecord['status'],
  errorKind: AttemptRecord['error_kind'],
  nextAt: Date | null,
  disable: boolean,
): AttemptRecord {
  return {
    delivery_id: claimed.delivery_id,
    orgcode: claimed.orgcode,
    webhook_id: claimed.webhook_id,
    status,
    attempted: true,
    attempt_no: claimed.attempt,
    started_at: startedAt,
    duration_ms: result.durationMs,
    status_code: result.status,
    error_kind: errorKind,
    error:
      result.errorMessage !== null
        ? withoutNul(result.errorMessage)
        : result.ok || result.status === null
          ? null
          : `HTTP ${result.status}`,
    response_headers: result.responseHeaders,
    response_excerpt: withoutNul(result.bodyExcerpt),
    next_attempt_at: nextAt,
    disable_webhook: disable,
  };
}
