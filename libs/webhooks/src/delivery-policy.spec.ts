import { RETRY_DEFAULTS } from './dto/webhook.dto';
import {
  AUTO_PAUSE_DEFAULT_FAILURES,
  DEFAULT_RETRY_SCHEDULE_MS,
  classifyAttempt,
  nextRetryDelay,
  parseRetryAfter,
  shouldAutoPause,
} from './delivery-policy';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

describe('DEFAULT_RETRY_SCHEDULE_MS', () => {
  it('is close to Svix: 5 s, 5 m, 30 m, 2 h, 5 h, 10 h, 10 h', () => {
    expect(DEFAULT_RETRY_SCHEDULE_MS).toEqual([5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H]);
    expect(Object.isFrozen(DEFAULT_RETRY_SCHEDULE_MS)).toBe(true);
  });

  it('matches the default max_attempts: the first attempt plus one retry per entry', () => {
    expect(RETRY_DEFAULTS.max_attempts).toBe(DEFAULT_RETRY_SCHEDULE_MS.length + 1);
  });
});

describe('classifyAttempt', () => {
  it('an unusable endpoint URL fails without retries, like an SSRF refusal', () => {
    expect(classifyAttempt({ errorCode: 'ERR_DELIVERY_INVALID_URL' })).toEqual({ kind: 'network', outcome: 'fail' });
    expect(classifyAttempt({ errorCode: 'ERR_SSRF_BLOCKED' })).toEqual({ kind: 'ssrf_blocked', outcome: 'fail' });
  });

  it.each([200, 201, 202, 204, 299])('%i is a success', (status) => {
    expect(classifyAttempt({ status })).toEqual({ kind: null, outcome: 'success' });
  });

  it('410 Gone disables the webhook and is not retried', () => {
    expect(classifyAttempt({ status: 410 })).toEqual({ kind: 'http_status', outcome: 'disable' });
  });

  it.each([400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504, 599])('%i is retried', (status) => {
    expect(classifyAttempt({ status })).toEqual({ kind: 'http_status', outcome: 'retry' });
  });

  it.each([100, 101, 199, 300, 301, 302, 304, 307, 308])(
    '%i (1xx/3xx, redirects not followed) is retried',
    (status) => {
      expect(classifyAttempt({ status })).toEqual({ kind: 'http_status', outcome: 'retry' });
    },
  );

  it.each([
    ['ETIMEDOUT', 'timeout'],
    ['UND_ERR_CONNECT_TIMEOUT', 'timeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'timeout'],
    ['ABORT_ERR', 'timeout'],
    ['ERR_DELIVERY_TIMEOUT', 'timeout'],
    ['ENOTFOUND', 'dns'],
    ['EAI_AGAIN', 'dns'],
    ['ECONNREFUSED', 'refused'],
    ['ECONNRESET', 'refused'],
    ['EPIPE', 'refused'],
    ['EHOSTUNREACH', 'refused'],
    ['ENETUNREACH', 'refused'],
    ['CERT_HAS_EXPIRED', 'tls'],
    ['CERT_NOT_YET_VALID', 'tls'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'tls'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'tls'],
    ['EPROTO', 'tls'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls'],
    ['UND_ERR_SOCKET', 'network'],
    ['SOMETHING_ELSE', 'network'],
  ])('error %s is %s and retried', (errorCode, kind) => {
    expect(classifyAttempt({ errorCode })).toEqual({ kind, outcome: 'retry' });
  });

  it('normalises the case and whitespace of error codes', () => {
    expect(classifyAttempt({ errorCode: ' econnrefused ' })).toEqual({ kind: 'refused', outcome: 'retry' });
  });

  it('an SSRF refusal fails and is never retried', () => {
    expect(classifyAttempt({ errorCode: 'ERR_SSRF_BLOCKED' })).toEqual({ kind: 'ssrf_blocked', outcome: 'fail' });
  });

  it('an error code takes precedence over a status', () => {
    expect(classifyAttempt({ status: 200, errorCode: 'UND_ERR_BODY_TIMEOUT' })).toEqual({
      kind: 'timeout',
      outcome: 'retry',
    });
    expect(classifyAttempt({ status: 410, errorCode: 'ERR_SSRF_BLOCKED' })).toEqual({
      kind: 'ssrf_blocked',
      outcome: 'fail',
    });
  });

  it('no status and no (or an empty) code is an unknown network failure, retried', () => {
    expect(classifyAttempt({})).toEqual({ kind: 'network', outcome: 'retry' });
    expect(classifyAttempt({ errorCode: '  ' })).toEqual({ kind: 'network', outcome: 'retry' });
    expect(classifyAttempt({ status: Number.NaN })).toEqual({ kind: 'network', outcome: 'retry' });
    expect(classifyAttempt({ status: 200.5 })).toEqual({ kind: 'network', outcome: 'retry' });
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-11-23T10:00:00.000Z');

  it('is undefined when absent or blank', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('   ', now)).toBeUndefined();
  });

  it('reads delta-seconds as ms', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 5 ', now)).toBe(5000);
  });

  it('rejects negative, fractional and malformed values', () => {
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('10s', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('2026-11-23T10:01:00Z', now)).toBeUndefined();
    expect(parseRetryAfter('1'.repeat(400), now)).toBeUndefined();
  });

  it('reads an IMF-fixdate HTTP-date as the delay from now', () => {
    expect(parseRetryAfter('Mon, 23 Nov 2026 10:01:30 GMT', now)).toBe(90_000);
    expect(parseRetryAfter('Mon, 23 Nov 2026 10:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Tue, 24 Nov 2026 10:00:00 GMT', now)).toBe(24 * H);
  });

  it('reads the obsolete RFC 850 and asctime forms', () => {
    expect(parseRetryAfter('Monday, 23-Nov-26 10:02:00 GMT', now)).toBe(2 * M);
    expect(parseRetryAfter('Mon Nov 23 10:00:10 2026', now)).toBe(10_000);
    expect(parseRetryAfter('Tue Dec  1 10:00:00 2026', now)).toBe(8 * 24 * H);
  });

  it('puts RFC 850 two-digit years more than 50 years ahead in the past century', () => {
    expect(parseRetryAfter('Friday, 23-Nov-99 10:00:00 GMT', now)).toBeUndefined();
  });

  it('is undefined for an HTTP-date in the past', () => {
    expect(parseRetryAfter('Mon, 23 Nov 2026 09:59:59 GMT', now)).toBeUndefined();
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now)).toBeUndefined();
  });

  it('is undefined for impossible dates', () => {
    expect(parseRetryAfter('Mon, 30 Feb 2027 10:00:00 GMT', now)).toBeUndefined();
    expect(parseRetryAfter('Mon, 23 Foo 2026 10:00:00 GMT', now)).toBeUndefined();
    expect(parseRetryAfter('Mon, 23 Nov 2026 24:00:00 GMT', now)).toBeUndefined();
    expect(parseRetryAfter('Mon, 23 Nov 2026 10:60:00 GMT', now)).toBeUndefined();
    expect(parseRetryAfter('Mon, 23 Nov 2026 10:00:00 UTC', now)).toBeUndefined();
  });
});

describe('nextRetryDelay', () => {
  const mid = () => 0.5;
  const max = RETRY_DEFAULTS.max_attempts;

  it('follows the schedule for each failed attempt, without jitter at random 0.5', () => {
    const delays = DEFAULT_RETRY_SCHEDULE_MS.map((_, i) =>
      nextRetryDelay({ attempt: i + 1, maxAttempts: max, random: mid }),
    );
    expect(delays).toEqual([...DEFAULT_RETRY_SCHEDULE_MS]);
  });

  it('returns null when attempts are exhausted (dead letter)', () => {
    expect(nextRetryDelay({ attempt: max, maxAttempts: max, random: mid })).toBeNull();
    expect(nextRetryDelay({ attempt: max + 3, maxAttempts: max, random: mid })).toBeNull();
    expect(nextRetryDelay({ attempt: 1, maxAttempts: 1, random: mid })).toBeNull();
    expect(nextRetryDelay({ attempt: Number.NaN, maxAttempts: max, random: mid })).toBeNull();
    expect(nextRetryDelay({ attempt: 1, maxAttempts: Number.NaN, random: mid })).toBeNull();
  });

  it('keeps the last delay beyond the end of the schedule', () => {
    expect(nextRetryDelay({ attempt: 12, maxAttempts: 20, random: mid })).toBe(10 * H);
  });

  it('treats an attempt below 1 as the first', () => {
    expect(nextRetryDelay({ attempt: 0, maxAttempts: max, random: mid })).toBe(5 * S);
  });

  it('jitters by -20% at random 0 and +20% at random 1', () => {
    expect(nextRetryDelay({ attempt: 2, maxAttempts: max, random: () => 0 })).toBe(4 * M);
    expect(nextRetryDelay({ attempt: 2, maxAttempts: max, random: () => 1 })).toBe(6 * M);
    expect(nextRetryDelay({ attempt: 1, maxAttempts: max, random: () => 0 })).toBe(4 * S);
    expect(nextRetryDelay({ attempt: 1, maxAttempts: max, random: () => 1 })).toBe(6 * S);
  });

  it('clamps an out-of-range random to the jitter bounds', () => {
    expect(nextRetryDelay({ attempt: 2, maxAttempts: max, random: () => -3 })).toBe(4 * M);
    expect(nextRetryDelay({ attempt: 2, maxAttempts: max, random: () => 7 })).toBe(6 * M);
  });

  it('stays within ±20% with Math.random', () => {
    for (let i = 0; i < 200; i++) {
      const delay = nextRetryDelay({ attempt: 3, maxAttempts: max });
      expect(delay).toBeGreaterThanOrEqual(24 * M);
      expect(delay).toBeLessThanOrEqual(36 * M);
      expect(Number.isInteger(delay)).toBe(true);
    }
  });

  it('honours a Retry-After larger than the computed delay', () => {
    expect(nextRetryDelay({ attempt: 1, maxAttempts: max, random: mid, retryAfterMs: 90 * S })).toBe(90 * S);
  });

  it('ignores a Retry-After smaller than the computed delay', () => {
    expect(nextRetryDelay({ attempt: 2, maxAttempts: max, random: mid, retryAfterMs: 10 * S })).toBe(5 * M);
    expect(nextRetryDelay({ attempt: 1, maxAttempts: max, random: mid, retryAfterMs: 0 })).toBe(5 * S);
    expect(nextRetryDelay({ attempt: 1, maxAttempts: max, random: mid, retryAfterMs: Number.NaN })).toBe(5 * S);
  });

  it('clamps a Retry-After to 24 h', () => {
    expect(nextRetryDelay({ attempt: 1, maxAttempts: max, random: mid, retryAfterMs: 7 * 24 * H })).toBe(24 * H);
    expect(nextRetryDelay({ attempt: 1, maxAttempts: max, random: mid, retryAfterMs: Infinity })).toBe(5 * S);
  });

  it('does not exhaust attempts because of a Retry-After', () => {
    expect(nextRetryDelay({ attempt: max, maxAttempts: max, random: mid, retryAfterMs: 10 * S })).toBeNull();
  });

  it('is never below 1 s', () => {
    const schedule = [100];
    expect(nextRetryDelay({ attempt: 1, maxAttempts: 5, random: () => 0, schedule })).toBe(S);
    expect(nextRetryDelay({ attempt: 1, maxAttempts: 5, random: () => 0, schedule, retryAfterMs: 500 })).toBe(S);
  });

  it('keeps the computed delay when it exceeds the 24 h Retry-After cap', () => {
    const schedule = [30 * H];
    expect(nextRetryDelay({ attempt: 1, maxAttempts: 5, random: mid, schedule, retryAfterMs: 31 * H })).toBe(30 * H);
  });

  it('falls back to the default schedule when given an empty one', () => {
    expect(nextRetryDelay({ attempt: 1, maxAttempts: 5, random: mid, schedule: [] })).toBe(5 * S);
  });
});

describe('shouldAutoPause', () => {
  it('defaults to 50 consecutive failures', () => {
    expect(AUTO_PAUSE_DEFAULT_FAILURES).toBe(50);
  });

  it('pauses at and beyond the threshold, not below', () => {
    expect(shouldAutoPause(49, AUTO_PAUSE_DEFAULT_FAILURES)).toBe(false);
    expect(shouldAutoPause(50, AUTO_PAUSE_DEFAULT_FAILURES)).toBe(true);
    expect(shouldAutoPause(51, AUTO_PAUSE_DEFAULT_FAILURES)).toBe(true);
    expect(shouldAutoPause(0, 1)).toBe(false);
    expect(shouldAutoPause(1, 1)).toBe(true);
  });

  it('never pauses with a threshold below 1 or not finite', () => {
    expect(shouldAutoPause(1000, 0)).toBe(false);
    expect(shouldAutoPause(1000, -1)).toBe(false);
    expect(shouldAutoPause(1000, Number.NaN)).toBe(false);
    expect(shouldAutoPause(1000, Infinity)).toBe(false);
  });
});
