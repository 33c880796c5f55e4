import { REDACTED, redactedKeySet, redactText, redactValue } from './logger';

const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const API_KEY = 'ipm_abcdefghijABCDEFGHIJ0123456789_-abcdefgh';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJvcmdzIjpbImFjbWUiXX0.Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eA';
const UPLOAD = '/ipm/bulk/upload/AQAAAABnM1MzMDFKRDNWNVQwSzZaOFE5VzJYNFk3QjFDM0WqqqqqqqqqqqqqqqqqqqqqqqqqA';
const SIGNATURE = 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=';

describe('redactText', () => {
  it.each([
    ['a webhook secret', `secret is ${WHSEC}.`, `secret is whsec_${REDACTED}.`],
    ['an API key', `key=${API_KEY} used`, `key=ipm_${REDACTED} used`],
    ['a JWT', `token ${JWT} refused`, `token ${REDACTED} refused`],
    ['a Bearer header', 'Authorization: Bearer abc.def-123', `Authorization: Bearer ${REDACTED}`],
    ['a Basic header', 'authorization: basic dXNlcjpwYXNz', `authorization: basic ${REDACTED}`],
    ['a signed bulk URL', `PUT ${UPLOAD} failed`, `PUT /ipm/bulk/upload/${REDACTED} failed`],
    ['a webhook signature', `webhook-signature: ${SIGNATURE}`, `webhook-signature: v1,${REDACTED}`],
  ])('masks %s', (_label, text, expected) => {
    expect(redactText(text)).toBe(expected);
  });

  it('leaves ids, prefixes and ordinary text alone', () => {
    const text =
      'webhook whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E key key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E prefix ipm_abcdefgh job job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E';
    expect(redactText(text)).toBe(text);
  });
});

describe('redactValue', () => {
  it('scrubs nested strings and errors without mutating them', () => {
    const err = new Error(`bad ${API_KEY}`);
    const value = { nested: [{ text: `x ${WHSEC}` }], err, n: 1, ok: true, none: null };
    const out = redactValue(value) as typeof value;
    expect(out.nested[0].text).toBe(`x whsec_${REDACTED}`);
    expect(out.err).toBeInstanceOf(Error);
    expect(out.err.message).toBe(`bad ipm_${REDACTED}`);
    expect(out.err.stack).not.toContain(API_KEY);
    expect(out).toMatchObject({ n: 1, ok: true, none: null });
    expect(value.nested[0].text).toContain(WHSEC);
    expect(err.message).toContain(API_KEY);
  });

  it('masks properties named in REDACTED_KEYS at any depth, case-insensitively', () => {
    const out = redactValue({
      headers: { Authorization: `Bearer ${JWT}`, 'X-Api-Key': API_KEY, 'content-type': 'application/json' },
      webhook: { secret: 'opaque-1', webhook_id: 'whk_1' },
      list: [{ Next_Token: 'opaque-2' }],
    });
    expect(out).toEqual({
      headers: { Authorization: REDACTED, 'X-Api-Key': REDACTED, 'content-type': 'application/json' },
      webhook: { secret: REDACTED, webhook_id: 'whk_1' },
      list: [{ Next_Token: REDACTED }],
    });
  });

  it('masks the extra names of LOG_REDACT_KEYS too, and keeps the built-in ones', () => {
    const keys = redactedKeySet(' customer_ssn , Phone,');
    expect(redactValue({ customer_ssn: '123', nested: { PHONE: '555' }, token: 't', name: 'n' }, keys)).toEqual({
      customer_ssn: REDACTED,
      nested: { PHONE: REDACTED },
      token: REDACTED,
      name: 'n',
    });
  });

  it("keeps an error's type and scrubs its own properties", () => {
    class DriverError extends Error {
      code = 'E1';
      password = 'hunter2';
      detail = `key ${API_KEY}`;
    }
    const out = redactValue(new DriverError(`failed ${WHSEC}`)) as DriverError;
    expect(out).toBeInstanceOf(DriverError);
    expect(out.message).toBe(`failed whsec_${REDACTED}`);
    expect(out.code).toBe('E1');
    expect(out.password).toBe(REDACTED);
    expect(out.detail).toBe(`key ipm_${REDACTED}`);
  });
});
