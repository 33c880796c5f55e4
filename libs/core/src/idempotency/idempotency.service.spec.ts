import { IDEMPOTENCY_KEY_PATTERN, requestFingerprint } from './idempotency.service';

describe('requestFingerprint', () => {
  const call = 'POST /webhook/create';

  it('is a sha256 hex digest', () => {
    expect(requestFingerprint(call, { a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is equal for the same call and body regardless of key order', () => {
    const a = { url: 'https://example.com/hook', events: ['a', 'b'], meta: { x: 1, y: { p: true, q: null } } };
    const b = { meta: { y: { q: null, p: true }, x: 1 }, events: ['a', 'b'], url: 'https://example.com/hook' };
    expect(requestFingerprint(call, a)).toBe(requestFingerprint(call, b));
  });

  it('differs for a different body', () => {
    const base = requestFingerprint(call, { url: 'https://example.com/a', events: ['a', 'b'] });
    expect(requestFingerprint(call, { url: 'https://example.com/b', events: ['a', 'b'] })).not.toBe(base);
    expect(requestFingerprint(call, { url: 'https://example.com/a', events: ['b', 'a'] })).not.toBe(base);
    expect(requestFingerprint(call, { url: 'https://example.com/a' })).not.toBe(base);
  });

  it('differs for a different call', () => {
    const body = { name: 'x' };
    expect(requestFingerprint('POST /webhook/create', body)).not.toBe(requestFingerprint('POST /apikey/create', body));
  });

  it('does not let the call and body run together', () => {
    // Without a separator, call "a" + body "\"b\"" and call "a\"b" + body ... could collide.
    expect(requestFingerprint('POST /x', '1')).not.toBe(requestFingerprint('POST /x"', 1));
  });

  it('treats a missing body as null', () => {
    expect(requestFingerprint(call, undefined)).toBe(requestFingerprint(call, null));
    expect(requestFingerprint(call, undefined)).not.toBe(requestFingerprint(call, {}));
  });
});

describe('IDEMPOTENCY_KEY_PATTERN', () => {
  it.each(['k', 'abc-123_XYZ', '!~', 'x'.repeat(255)])('accepts %p', (key) => {
    expect(IDEMPOTENCY_KEY_PATTERN.test(key)).toBe(true);
  });
  it.each(['', 'has space', 'tab\t', 'é', 'x'.repeat(256)])('refuses %p', (key) => {
    expect(IDEMPOTENCY_KEY_PATTERN.test(key)).toBe(false);
  });
});
