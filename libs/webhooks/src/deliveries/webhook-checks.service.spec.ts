import type { AttemptResult } from '../delivery-client';
import { verificationFailure } from './webhook-checks.service';

const CHALLENGE = 'c'.repeat(43);

function result(partial: Partial<AttemptResult>): AttemptResult {
  return {
    ok: false,
    status: 200,
    durationMs: 12,
    responseHeaders: {},
    bodyExcerpt: '',
    errorCode: null,
    errorMessage: null,
    ...partial,
  };
}

describe('verificationFailure', () => {
  it('passes a 2xx whose JSON body echoes the challenge', () => {
    expect(
      verificationFailure(result({ status: 200, bodyExcerpt: JSON.stringify({ challenge: CHALLENGE }) }), CHALLENGE),
    ).toBeNull();
    expect(
      verificationFailure(
        result({ status: 201, bodyExcerpt: JSON.stringify({ challenge: CHALLENGE, extra: 1 }) }),
        CHALLENGE,
      ),
    ).toBeNull();
  });

  it.each([
    ['another challenge', JSON.stringify({ challenge: 'x' })],
    ['no challenge', JSON.stringify({ ok: true })],
    ['a JSON string', JSON.stringify(CHALLENGE)],
    ['null', 'null'],
    ['not JSON', CHALLENGE],
    ['an empty body', ''],
  ])('%s: challenge mismatch', (_label, body) => {
    expect(verificationFailure(result({ status: 200, bodyExcerpt: body }), CHALLENGE)).toBe('challenge mismatch');
  });

  it('a 2xx whose body went past the read cap is too large, even when its excerpt echoes', () => {
    const echo = JSON.stringify({ challenge: CHALLENGE });
    expect(verificationFailure(result({ status: 200, bodyExcerpt: echo, bodyTruncated: true }), CHALLENGE)).toBe(
      'response too large',
    );
    expect(verificationFailure(result({ status: 200, bodyExcerpt: echo, bodyTruncated: false }), CHALLENGE)).toBeNull();
    expect(verificationFailure(result({ status: 500, bodyExcerpt: 'x', bodyTruncated: true }), CHALLENGE)).toBe(
      'http_status 500',
    );
  });

  it('a non-2xx status is named, even when the body echoes', () => {
    const body = JSON.stringify({ challenge: CHALLENGE });
    expect(verificationFailure(result({ status: 500, bodyExcerpt: body }), CHALLENGE)).toBe('http_status 500');
    expect(verificationFailure(result({ status: 302 }), CHALLENGE)).toBe('http_status 302');
    expect(verificationFailure(result({ status: 199 }), CHALLENGE)).toBe('http_status 199');
  });

  it.each([
    ['ERR_DELIVERY_TIMEOUT', 'timeout'],
    ['ERR_SSRF_BLOCKED', 'ssrf_blocked'],
    ['ECONNREFUSED', 'refused'],
    ['ENOTFOUND', 'dns'],
    ['CERT_HAS_EXPIRED', 'tls'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['ECONNRESET', 'refused'],
    ['HPE_HEADER_OVERFLOW', 'network'],
    ['ERR_DELIVERY_INVALID_URL', 'invalid_url'],
    ['ESOMETHING', 'network'],
  ])('a network error %s: %s', (errorCode, reason) => {
    expect(verificationFailure(result({ status: null, errorCode, errorMessage: 'x' }), CHALLENGE)).toBe(reason);
  });
});
