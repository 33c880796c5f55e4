import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { signatureV1, signDelivery, signingKey } from './signing';
import { generateWebhookSecret } from './webhook-secrets';

describe('Standard Webhooks signing', () => {
  const body = JSON.stringify({
    type: 'rfp.created',
    timestamp: '2026-11-23T10:00:00.000Z',
    data: { rfp_id: 'R-1', ü: '✓' },
  });
  const id = 'dlv_01JD3V5T0K6Z8Q9W2X4Y7B1C3E';
  const now = () => Math.floor(Date.now() / 1000);

  it('verifies with the standardwebhooks package, unchanged', () => {
    const secret = generateWebhookSecret();
    const headers = signDelivery([secret], id, now(), body);
    expect(new StandardWebhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('verifies with the svix package, unchanged (webhook-* headers)', () => {
    const secret = generateWebhookSecret();
    const headers = signDelivery([secret], id, now(), body);
    expect(new SvixWebhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('during a rotation both secrets verify, each on its own', () => {
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    const headers = signDelivery([current, previous], id, now(), body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new StandardWebhook(current).verify(body, { ...headers })).not.toThrow();
    expect(() => new StandardWebhook(previous).verify(body, { ...headers })).not.toThrow();
    expect(() => new StandardWebhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow();
  });

  it('fails verification when the body, id or timestamp changes, or the timestamp is stale', () => {
    const secret = generateWebhookSecret();
    const ts = now();
    const headers = signDelivery([secret], id, ts, body);
    const wh = new StandardWebhook(secret);
    expect(() => wh.verify(`${body} `, { ...headers })).toThrow();
    expect(() => wh.verify(body, { ...headers, 'webhook-id': 'dlv_other' })).toThrow();
    expect(() => wh.verify(body, { ...headers, 'webhook-timestamp': String(ts + 1) })).toThrow();
    const old = signDelivery([secret], id, ts - 3600, body);
    expect(() => wh.verify(body, { ...old })).toThrow(/too old/i);
  });

  it('matches a known vector (HMAC-SHA256 over "id.timestamp.body" with the decoded key)', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(signingKey(secret)).toHaveLength(24);
    expect(signatureV1(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('refuses to sign without a secret or with a bad timestamp', () => {
    expect(() => signDelivery([], id, now(), body)).toThrow(RangeError);
    expect(() => signDelivery([generateWebhookSecret()], id, 1.5, body)).toThrow(RangeError);
    expect(() => signingKey('whsec_c2hvcnQ=')).toThrow(RangeError);
  });
});
