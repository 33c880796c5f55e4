import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { SecretBox } from '@ipm/core';
import type { WebhookEntity } from './entities/webhook.entity';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
export const WEBHOOK_SECRET_BYTES = 32;
const SECRET_SHAPE = /^whsec_[A-Za-z0-9+/]{43}=$/;

/** `whsec_` + base64 of 32 random bytes: the Standard Webhooks / Svix form, usable by their libraries as is. */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(WEBHOOK_SECRET_BYTES).toString('base64');
}

export function looksLikeWebhookSecret(value: string): boolean {
  return SECRET_SHAPE.test(value);
}

/** What people see to tell secrets apart: the first 16 hex digits of SHA-256 of the whole secret. */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 16);
}

export function secretLast4(secret: string): string {
  return secret.slice(-4);
}

/** A new secret, sealed for one webhook, with what may be shown of it. */
export interface IssuedSecret {
  /** Shown once (create, rotate), never stored in clear. */
  secret: string;
  sealed: string;
  key_id: string;
  last4: string;
  fingerprint: string;
}

type SecretColumns = Pick<
  WebhookEntity,
  'webhook_id' | 'secret_sealed' | 'previous_secret_sealed' | 'previous_secret_expires_at'
>;

/**
 * Webhook signing secrets at rest: sealed with SecretBox under the webhook's id as context (a
 * sealed value cannot be moved to another row). The delivery engine asks for the secrets to sign with.
 */
@Injectable()
export class WebhookSecrets {
  constructor(private readonly box: SecretBox) {}

  issue(webhookId: string): IssuedSecret {
    const secret = generateWebhookSecret();
    return {
      secret,
      sealed: this.box.seal(secret, webhookId),
      key_id: this.box.keyId,
      last4: secretLast4(secret),
      fingerprint: secretFingerprint(secret),
    };
  }

  /**
   * The secrets a delivery is signed with at `now`: the current one first, then the previous one
   * while its rotation grace period lasts (Standard Webhooks receivers accept any one signature).
   */
  signingSecrets(webhook: SecretColumns, now: Date = new Date()): string[] {
    const secrets = [this.box.openText(webhook.secret_sealed, webhook.webhook_id)];
    if (
      webhook.previous_secret_sealed &&
      webhook.previous_secret_expires_at &&
      webhook.previous_secret_expires_at.getTime() > now.getTime()
    ) {
      secrets.push(this.box.openText(webhook.previous_secret_sealed, webhook.webhook_id));
    }
    return secrets;
  }
}
