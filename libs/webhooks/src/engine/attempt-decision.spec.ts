import type { AttemptResult } from '../delivery-client';
import { consecutiveFailuresAfter, decideAttempt } from './attempt-decision';

const now = new Date('2026-11-23T12:00:00Z');
const result = (over: Partial<AttemptResult>): AttemptResult => ({
  ok: false,
  status: null,
  durationMs: 12,
  responseHeaders: {},
  bodyExcerpt: '',
  errorCode: null,
  errorMessage: null,
  ...over,
});
const mid = () => 0.5; // no jitter

describe('decideAttempt', () => {
  it('2xx is success', () => {
    expect(decideAttempt(result({ ok: true, status: 204 }), 1, 8, now, mid)).toEqual({
      status: 'success',
      errorKind: null,
      retryDelayMs: null,
      webhookAction: 'none',
    });
  });

  it.each([
    [500, 'http_status'],
    [429, 'http_status'],
    [404, 'http_status'],
  ])('%i is retried on the schedule (first retry after 5 s)', (status, kind) => {
    expect(decideAttempt(result({ status }), 1, 8, now, mid)).toMatchObject({
      status: 'retrying',
      errorKind: kind,
      retryDelayMs: 5000,
    });
  });

  it.each([
    ['ERR_DELIVERY_TIMEOUT', 'timeout'],
    ['ECONNREFUSED', 'refused'],
    ['ENOTFOUND', 'dns'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
  ])('%s is retried as %s', (errorCode, kind) => {
    expect(decideAttempt(result({ errorCode }), 2, 8, now, mid)).toMatchObject({
      status: 'retrying',
      errorKind: kind,
      retryDelayMs: 5 * 60_000,
    });
  });

  it('honours a longer Retry-After', () => {
    const d = decideAttempt(result({ status: 503, responseHeaders: { 'retry-after': '120' } }), 1, 8, now, mid);
    expect(d.retryDelayMs).toBe(120_000);
  });

  it('410 Gone fails the delivery and disables the webhook', () => {
    expect(decideAttempt(result({ status: 410 }), 1, 8, now, mid)).toMatchObject({
      status: 'failed',
      webhookAction: 'disable',
    });
  });

  it('an SSRF refusal fails without retry', () => {
    expect(decideAttempt(result({ errorCode: 'ERR_SSRF_BLOCKED' }), 1, 8, now, mid)).toMatchObject({
      status: 'failed',
      errorKind: 'ssrf_blocked',
      webhookAction: 'none',
    });
  });

  it('the last attempt failing is a dead letter', () => {
    expect(decideAttempt(result({ status: 500 }), 8, 8, now, mid)).toMatchObject({
      status: 'dead_letter',
      retryDelayMs: null,
    });
    expect(decideAttempt(result({ status: 500 }), 1, 1, now, mid).status).toBe('dead_letter');
  });
});

describe('consecutiveFailuresAfter', () => {
  it('counts failures and resets on success', () => {
    expect(consecutiveFailuresAfter(3, [false, false])).toBe(5);
    expect(consecutiveFailuresAfter(3, [false, true, false])).toBe(1);
    expect(consecutiveFailuresAfter(3, [true])).toBe(0);
    expect(consecutiveFailuresAfter(3, [])).toBe(3);
  });
});
