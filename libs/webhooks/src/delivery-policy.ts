/**
 * Pure delivery policy for the delivery engine: how an attempt's result is classified, when (and whether)
 * it is retried, how `Retry-After` is read, and when a webhook is auto-paused. No I/O, no dependencies.
 */

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;

/**
 * Delay before each retry, close to Svix's: entry `i` is the wait after failed attempt `i + 1`.
 * Seven retries, so with the first attempt the default `max_attempts` is 8 (`RETRY_DEFAULTS`).
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([
  5 * SECOND_MS,
  5 * MINUTE_MS,
  30 * MINUTE_MS,
  2 * HOUR_MS,
  5 * HOUR_MS,
  10 * HOUR_MS,
  10 * HOUR_MS,
]);

/** ±20% jitter applied to each scheduled delay. */
export const RETRY_JITTER_RATIO = 0.2;
/** No retry is ever scheduled sooner than this. */
export const RETRY_MIN_DELAY_MS = SECOND_MS;
/** A receiver's `Retry-After` is honoured up to this much. */
export const RETRY_AFTER_MAX_MS = 24 * HOUR_MS;

/** Consecutive failed deliveries after which a webhook is paused, unless overridden per webhook. */
export const AUTO_PAUSE_DEFAULT_FAILURES = 50;

export type AttemptErrorKind = 'timeout' | 'dns' | 'refused' | 'tls' | 'ssrf_blocked' | 'http_status' | 'network';

/**
 * What to do after an attempt: `success` ends the delivery; `retry` schedules another attempt (or dead-letters
 * it when attempts are exhausted); `disable` (410 Gone) disables the webhook; `fail` ends it without retry.
 */
export type AttemptOutcome = 'success' | 'retry' | 'disable' | 'fail';

export interface AttemptInput {
  /** The HTTP status code, when a response was received. */
  status?: number;
  /** The error code (Node/undici `code`, or the engine's own `ERR_DELIVERY_TIMEOUT` / `ERR_SSRF_BLOCKED`). */
  errorCode?: string;
}

export interface AttemptClassification {
  /** `null` on success. */
  kind: AttemptErrorKind | null;
  outcome: AttemptOutcome;
}

export const SSRF_BLOCKED_CODE = 'ERR_SSRF_BLOCKED';
export const DELIVERY_TIMEOUT_CODE = 'ERR_DELIVERY_TIMEOUT';
/** The endpoint URL cannot be requested at all (unparseable, not http/s): retrying cannot help. */
export const DELIVERY_INVALID_URL_CODE = 'ERR_DELIVERY_INVALID_URL';
const NEVER_RETRIED = new Set([SSRF_BLOCKED_CODE, DELIVERY_INVALID_URL_CODE]);

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ABORT_ERR', DELIVERY_TIMEOUT_CODE]);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const REFUSED_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  // TLS spoken to a port that answers something else (plain HTTP, say).
  'EPROTO',
]);

function errorKind(code: string): AttemptErrorKind {
  if (code === SSRF_BLOCKED_CODE) return 'ssrf_blocked';
  if (TIMEOUT_CODES.has(code) || /^UND_ERR_[A-Z_]*TIMEOUT$/.test(code)) return 'timeout';
  if (DNS_CODES.has(code)) return 'dns';
  if (REFUSED_CODES.has(code)) return 'refused';
  if (TLS_CODES.has(code) || /^(CERT_|ERR_TLS_|ERR_SSL_)/.test(code)) return 'tls';
  return 'network';
}

/**
 * Classifies one attempt. An error code takes precedence over a status (the attempt failed even if headers
 * arrived). 2xx: success. 410: disable, not retried. Any other status (1xx, 3xx — redirects are not followed —
 * 4xx, 429, 5xx): retry as `http_status`. Timeouts, DNS, refused/reset, TLS and unknown network errors: retry.
 * An SSRF refusal and an unusable URL are never retried. No status and no code is an unknown network failure.
 */
export function classifyAttempt(input: AttemptInput): AttemptClassification {
  const code = input.errorCode?.trim().toUpperCase();
  if (code) {
    const kind = errorKind(code);
    return { kind, outcome: NEVER_RETRIED.has(code) ? 'fail' : 'retry' };
  }
  const { status } = input;
  if (status === undefined || !Number.isInteger(status)) return { kind: 'network', outcome: 'retry' };
  if (status >= 200 && status < 300) return { kind: null, outcome: 'success' };
  if (status === 410) return { kind: 'http_status', outcome: 'disable' };
  return { kind: 'http_status', outcome: 'retry' };
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = /^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
/** Obsolete RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850_DATE = /^[a-z]{6,9}, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
/** Obsolete asctime: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME_DATE = /^[a-z]{3} ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i;

function utc(year: number, monthName: string, day: number, h: number, m: number, s: number): number | undefined {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  if (month < 0 || h > 23 || m > 59 || s > 60) return undefined;
  const time = Date.UTC(year, month, day, h, m, Math.min(s, 59));
  // Reject impossible days (Feb 30 would roll over into March).
  return new Date(time).getUTCDate() === day ? time : undefined;
}

function parseHttpDate(value: string, now: Date): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(Number(m[3]), m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = RFC850_DATE.exec(value);
  if (m) {
    // Two-digit years more than 50 years ahead are in the past century (RFC 9110 §5.6.7).
    let year = 2000 + Number(m[3]);
    if (year > now.getUTCFullYear() + 50) year -= 100;
    return utc(year, m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME_DATE.exec(value);
  if (m) return utc(Number(m[6]), m[1], Number(m[2].trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  return undefined;
}

/**
 * Reads a `Retry-After` header (delta-seconds or HTTP-date) as a delay in ms from `now`.
 * `undefined` when absent, invalid or negative (a date in the past).
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) {
    const ms = Number(text) * SECOND_MS;
    return Number.isFinite(ms) ? ms : undefined;
  }
  const at = parseHttpDate(text, now);
  if (at === undefined) return undefined;
  const ms = at - now.getTime();
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

export interface NextRetryInput {
  /** 1-based number of the attempt that just failed. */
  attempt: number;
  /** The webhook's `retry_policy.max_attempts` (first attempt included). */
  maxAttempts: number;
  /** The receiver's `Retry-After`, from {@link parseRetryAfter}. */
  retryAfterMs?: number;
  /** Source of jitter in [0, 1]; `Math.random` by default. */
  random?: () => number;
  /** Defaults to {@link DEFAULT_RETRY_SCHEDULE_MS}. */
  schedule?: readonly number[];
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * The delay in ms before the next attempt, or `null` when attempts are exhausted (the delivery goes to
 * `dead_letter`). The schedule's entry for the failed attempt (its last entry beyond its end) with ±20% jitter;
 * a `Retry-After` larger than that is honoured, clamped to [1 s, 24 h]; never below 1 s.
 */
export function nextRetryDelay(input: NextRetryInput): number | null {
  const { attempt, maxAttempts, retryAfterMs } = input;
  if (!Number.isFinite(attempt) || !Number.isFinite(maxAttempts) || attempt >= maxAttempts) return null;
  const schedule = input.schedule && input.schedule.length > 0 ? input.schedule : DEFAULT_RETRY_SCHEDULE_MS;
  const index = clamp(Math.floor(attempt) - 1, 0, schedule.length - 1);
  const r = clamp((input.random ?? Math.random)(), 0, 1);
  const jittered = schedule[index] * (1 + (2 * r - 1) * RETRY_JITTER_RATIO);
  let delay = jittered;
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > jittered) {
    delay = Math.max(jittered, clamp(retryAfterMs, RETRY_MIN_DELAY_MS, RETRY_AFTER_MAX_MS));
  }
  return Math.round(Math.max(RETRY_MIN_DELAY_MS, delay));
}

/** Whether a webhook with this many consecutive failed deliveries is to be paused; a threshold below 1 never pauses. */
export function shouldAutoPause(consecutiveFailures: number, threshold: number): boolean {
  if (!Number.isFinite(threshold) || threshold < 1) return false;
  return consecutiveFailures >= threshold;
}
