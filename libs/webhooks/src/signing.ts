import { createHmac } from 'node:crypto';
import { WEBHOOK_SECRET_PREFIX } from './webhook-secrets';

/** The Standard Webhooks headers of one delivery attempt. */
export interface SignatureHeaders {
  /** Stable across the retries of one delivery (the delivery's id). */
  'webhook-id': string;
  /** Unix seconds of this attempt. */
  'webhook-timestamp': string;
  /** `v1,<base64 HMAC-SHA256>` per secret, space-separated (two during a rotation's grace period). */
  'webhook-signature': string;
}

/** The HMAC key of a `whsec_<base64>` secret: its decoded bytes, as Standard Webhooks defines. */
export function signingKey(secret: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (key.length < 24) throw new RangeError('a webhook secret must hold at least 24 bytes');
  return key;
}

/** `v1,` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")). */
export function signatureV1(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', signingKey(secret)).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/**
 * Signs one attempt with every given secret (current first), so that a receiver still holding
 * the previous secret during a rotation verifies as well as one holding the new one. `body` is
 * the exact string sent: receivers verify the raw bytes.
 */
export function signDelivery(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): SignatureHeaders {
  if (!secrets.length) throw new RangeError('at least one secret is needed to sign');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError('timestamp must be Unix seconds');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signatureV1(s, id, timestamp, body)).join(' '),
  };
}
