import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { AppConfig, AppError, IdPrefix, newId } from '@ipm/core';
import { enqueueAfterCommit } from '@ipm/queues';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { CatalogRegistry } from '@ipm/catalog';
import { AttemptResult, DELIVERY_INVALID_URL, DeliveryClient } from '../delivery-client';
import { classifyAttempt } from '../delivery-policy';
import { DeliveryScheduler, NewDelivery } from '../engine/delivery-scheduler';
import { UNKNOWN_EVENT_FILTER } from '../event-filters';
import { signDelivery } from '../signing';
import { WebhookRepository } from '../webhook.repository';
import { WebhookSecrets } from '../webhook-secrets';
import { requireActive, toDeliveryDto } from './deliveries.service';
import { DeliveryRepository } from './delivery.repository';
import {
  DeliveryResultDto,
  WebhookTestRequestDto,
  WebhookVerifiedDto,
  WebhookVerifyRequestDto,
} from './dto/delivery.dto';

export const VERIFICATION_EVENT_TYPE = 'ipm.webhook.verification';
export const VERIFIED = 'verified';
/** How often `/webhook/test` looks at its delivery while waiting for the worker. */
export const TEST_POLL_MS = 50;
/** How much longer than the webhook's own timeout `/webhook/test` waits for the outcome. */
export const TEST_GRACE_MS = 2000;
const WAITING: readonly string[] = ['pending', 'in_flight'];

/** `/webhook/test` (a specimen through the real delivery path) and `/webhook/verify` (a signed challenge, sent from here). */
@Injectable()
export class WebhookChecksService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly webhooks: WebhookRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly scheduler: DeliveryScheduler,
    private readonly secrets: WebhookSecrets,
    private readonly catalog: CatalogRegistry,
    private readonly client: DeliveryClient,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Sends the event type's specimen as a delivery of its own (origin `test`) and waits for its
   * first outcome, at most the webhook's timeout plus a grace; returns the delivery as it then stands.
   */
  async test(caller: Caller, request: WebhookTestRequestDto): Promise<DeliveryResultDto> {
    const found = await this.webhooks.findVisible(caller, request.webhook_id);
    if (!found) throw AppError.notFound('Webhook');
    const entry = await this.catalog.find(caller.orgcode, request.event_type);
    if (!entry) {
      const message = `unknown event type ${request.event_type}`;
      throw AppError.unprocessable(
        `event_type is not in this organization's catalog: ${request.event_type}`,
        [{ field: 'event_type', message }],
        UNKNOWN_EVENT_FILTER,
      );
    }
    const { row, webhook } = await this.dataSource.transaction(async (em) => {
      const webhook = await this.webhooks.findVisible(caller, request.webhook_id, em);
      if (!webhook) throw AppError.notFound('Webhook');
      requireActive(webhook);
      const row: NewDelivery = {
        delivery_id: newId(IdPrefix.Delivery),
        orgcode: webhook.orgcode,
        app_id: webhook.app_id,
        webhook_id: webhook.webhook_id,
        event_seq: null,
        event_id: newId(IdPrefix.Event),
        event_type: entry.event_type,
        payload: asPayload(entry.specimen),
        origin: 'test',
      };
      await this.scheduler.insert(em, [row]);
      await this.audit.record(em, caller, request, {
        action: 'webhook.test',
        target_type: 'webhook',
        target_id: webhook.webhook_id,
        metadata: { delivery_id: row.delivery_id, event_type: row.event_type },
      });
      return { row, webhook };
    });
    // Redis down: answer after the wait with the delivery still pending (the sweeper sends it), not hang.
    await enqueueAfterCommit(`delivery ${row.delivery_id}`, () => this.scheduler.enqueue([row]));
    const deadline = Date.now() + webhook.retry_policy.timeout_ms + TEST_GRACE_MS;
    for (;;) {
      const current = await this.deliveries.findVisible(caller, row.delivery_id);
      if (!current) throw AppError.notFound('Delivery'); // purged meanwhile
      if (!WAITING.includes(current.status) || Date.now() >= deadline) return { delivery: toDeliveryDto(current) };
      await sleep(TEST_POLL_MS);
    }
  }

  /**
   * Posts a signed challenge to the endpoint, from the api and at once; the endpoint is verified
   * when it answers 2xx with that challenge in a JSON body. Records the outcome on the webhook
   * (not a revision: nothing the caller set changes).
   */
  async verify(caller: Caller, request: WebhookVerifyRequestDto): Promise<WebhookVerifiedDto> {
    const webhook = await this.webhooks.findVisible(caller, request.webhook_id);
    if (!webhook) throw AppError.notFound('Webhook');
    const challenge = randomBytes(32).toString('base64url');
    const sentAt = new Date();
    const body = JSON.stringify({
      type: VERIFICATION_EVENT_TYPE,
      timestamp: sentAt.toISOString(),
      data: { challenge },
    });
    const signature = signDelivery(
      this.secrets.signingSecrets(webhook, sentAt),
      newId(IdPrefix.Delivery),
      Math.floor(sentAt.getTime() / 1000),
      body,
    );
    const result = await this.client.post(
      webhook.endpoint_url,
      body,
      { ...webhook.headers, ...signature },
      this.config.WEBHOOK_VERIFY_TIMEOUT_MS,
    );
    const reason = verificationFailure(result, challenge);
    return this.dataSource.transaction(async (em) => {
      const row = await this.webhooks.findVisible(caller, webhook.webhook_id, em, true);
      if (!row) throw AppError.notFound('Webhook');
      const verifiedAt = reason === null ? new Date() : row.verified_at;
      await this.webhooks.update(
        caller,
        { webhook_id: row.webhook_id },
        { verified_at: verifiedAt, verification_status: reason ?? VERIFIED },
        em,
      );
      await this.audit.record(em, caller, request, {
        action: 'webhook.verify',
        target_type: 'webhook',
        target_id: row.webhook_id,
        metadata: { verified: reason === null, ...(reason === null ? {} : { reason }), status_code: result.status },
      });
      return {
        webhook_id: row.webhook_id,
        verified: reason === null,
        ...(reason === null ? {} : { reason }),
        verified_at: verifiedAt?.toISOString() ?? null,
      };
    });
  }
}

/**
 * Why a verification attempt failed, or null when it passed: the network error's kind
 * (`timeout`, `ssrf_blocked`, `refused`, `tls`…), `http_status <code>` for a non-2xx,
 * `response too large` for a 2xx whose body went past the client's read cap (a challenge echo is
 * a few dozen bytes), or `challenge mismatch` when the JSON body does not echo the challenge.
 */
export function verificationFailure(result: AttemptResult, challenge: string): string | null {
  if (result.errorCode !== null) {
    if (result.errorCode === DELIVERY_INVALID_URL) return 'invalid_url';
    return classifyAttempt({ errorCode: result.errorCode }).kind ?? 'network';
  }
  if (result.status === null || result.status < 200 || result.status > 299) {
    return `http_status ${result.status ?? 'none'}`;
  }
  if (result.bodyTruncated === true) return 'response too large';
  let echoed: unknown;
  try {
    echoed = JSON.parse(result.bodyExcerpt);
  } catch {
    return 'challenge mismatch';
  }
  const given =
    typeof echoed === 'object' && echoed !== null ? (echoed as Record<string, unknown>).challenge : undefined;
  return given === challenge ? null : 'challenge mismatch';
}

/** A specimen as a delivery's `data`: specimens are JSON objects; anything else is wrapped. */
function asPayload(specimen: unknown): object {
  return typeof specimen === 'object' && specimen !== null ? specimen : { value: specimen };
}
