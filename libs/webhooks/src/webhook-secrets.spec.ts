import { createHash } from 'node:crypto';
import { DEV_SECRETS_KEY, SecretBox } from '@ipm/core';
import {
  generateWebhookSecret,
  looksLikeWebhookSecret,
  secretFingerprint,
  secretLast4,
  WEBHOOK_SECRET_PREFIX,
  WebhookSecrets,
} from './webhook-secrets';

describe('generateWebhookSecret', () => {
  it('is whsec_ + standard base64 of 32 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(WEBHOOK_SECRET_PREFIX).toBe('whsec_');
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = Buffer.from(secret.slice(6), 'base64');
    expect(body).toHaveLength(32);
    expect(body.toString('base64')).toBe(secret.slice(6));
    expect(looksLikeWebhookSecret(secret)).toBe(true);
  });

  it('never repeats', () => {
    expect(new Set(Array.from({ length: 1000 }, generateWebhookSecret)).size).toBe(1000);
  });

  it.each([
    '',
    'whsec_',
    `whsec_${'A'.repeat(44)}`,
    `whsec_${'A'.repeat(42)}==`,
    `WHSEC_${'A'.repeat(43)}=`,
    `ipm_${'A'.repeat(43)}=`,
  ])('looksLikeWebhookSecret refuses %j', (value) => {
    expect(looksLikeWebhookSecret(value)).toBe(false);
  });
});

describe('secretFingerprint and secretLast4', () => {
  it('the fingerprint is the first 16 hex digits of SHA-256 of the whole secret', () => {
    const secret = generateWebhookSecret();
    expect(secretFingerprint(secret)).toBe(createHash('sha256').update(secret).digest('hex').slice(0, 16));
    expect(secretFingerprint('abc')).toBe('ba7816bf8f01cfea');
    expect(secretFingerprint(secret)).toMatch(/^[0-9a-f]{16}$/);
    expect(secretFingerprint(secret)).not.toBe(secretFingerprint(generateWebhookSecret()));
  });

  it('last4 is the last four characters', () => {
    expect(secretLast4('whsec_abcdefgh=')).toBe('fgh=');
  });
});

describe('WebhookSecrets', () => {
  const box = new SecretBox({ SECRETS_KEY: DEV_SECRETS_KEY });
  const secrets = new WebhookSecrets(box);
  const id = 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E';

  it('issues a sealed secret bound to the webhook id, with what may be shown', () => {
    const issued = secrets.issue(id);
    expect(looksLikeWebhookSecret(issued.secret)).toBe(true);
    expect(issued.sealed).not.toContain(issued.secret.slice(6));
    expect(issued.key_id).toBe('k1');
    expect(issued.last4).toBe(issued.secret.slice(-4));
    expect(issued.fingerprint).toBe(secretFingerprint(issued.secret));
    expect(box.openText(issued.sealed, id)).toBe(issued.secret);
    expect(() => box.openText(issued.sealed, 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3F')).toThrow();
  });

  it('signs with the current secret only, when there is no previous one', () => {
    const current = secrets.issue(id);
    const row = {
      webhook_id: id,
      secret_sealed: current.sealed,
      previous_secret_sealed: null,
      previous_secret_expires_at: null,
    };
    expect(secrets.signingSecrets(row)).toEqual([current.secret]);
  });

  it('signs with current and previous during the grace period, then with the current only', () => {
    const previous = secrets.issue(id);
    const current = secrets.issue(id);
    const until = new Date('2030-01-02T00:00:00Z');
    const row = {
      webhook_id: id,
      secret_sealed: current.sealed,
      previous_secret_sealed: previous.sealed,
      previous_secret_expires_at: until,
    };
    expect(secrets.signingSecrets(row, new Date('2030-01-01T23:59:59Z'))).toEqual([current.secret, previous.secret]);
    expect(secrets.signingSecrets(row, until)).toEqual([current.secret]);
    expect(secrets.signingSecrets(row, new Date('2030-01-03T00:00:00Z'))).toEqual([current.secret]);
  });

  it('refuses a sealed secret moved from another webhook', () => {
    const other = secrets.issue('whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3F');
    const row = {
      webhook_id: id,
      secret_sealed: other.sealed,
      previous_secret_sealed: null,
      previous_secret_expires_at: null,
    };
    expect(() => secrets.signingSecrets(row)).toThrow();
  });
});
