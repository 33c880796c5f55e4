import { Transform } from 'class-transformer';
import { ValidateBy, ValidationOptions } from 'class-validator';

export const MAX_HEADERS = 20;
export const MAX_HEADERS_BYTES = 4096;

/** RFC 7230 `token`: what a header field name may be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Node's HTTP client accepts in a value: tab, visible ASCII, space, obs-text; no CR, LF or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Connection-level headers: the HTTP client owns them. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
]);
/** Headers the delivery engine sets itself (Standard Webhooks signature, body type, client). */
const RESERVED = new Set(['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type', 'user-agent']);

/**
 * Why a webhook's static headers are refused, one message per problem, each naming the header
 * (never its value: people do paste tokens into headers). Empty when they are fine.
 */
export function headerProblems(headers: unknown): string[] {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    return ['headers must be an object of header name to string value'];
  }
  const entries = Object.entries(headers as Record<string, unknown>);
  const problems: string[] = [];
  if (entries.length > MAX_HEADERS) problems.push(`headers may hold at most ${MAX_HEADERS} headers`);
  const seen = new Set<string>();
  let bytes = 0;
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) problems.push(`header ${JSON.stringify(name)} is not a valid header name`);
    else if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) {
      problems.push(`header ${name} is a hop-by-hop header and cannot be set`);
    } else if (RESERVED.has(lower)) problems.push(`header ${name} is set by the delivery engine and cannot be set`);
    else if (seen.has(lower)) problems.push(`header ${name} is given twice (names are case-insensitive)`);
    seen.add(lower);
    if (typeof value !== 'string') {
      problems.push(`header ${TOKEN.test(name) ? name : JSON.stringify(name)} must have a string value`);
      continue;
    }
    if (!FIELD_VALUE.test(value)) {
      problems.push(
        `header ${TOKEN.test(name) ? name : JSON.stringify(name)} value contains control characters (CR, LF, ...)`,
      );
    }
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value, 'utf8');
  }
  if (bytes > MAX_HEADERS_BYTES)
    problems.push(`headers must total at most ${MAX_HEADERS_BYTES} bytes of names and values`);
  return problems;
}

/** class-validator: `headers` must pass {@link headerProblems}; the message lists every problem. */
export function IsWebhookHeaders(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isWebhookHeaders',
      validator: {
        validate: (value: unknown) => headerProblems(value).length === 0,
        defaultMessage: (args) => headerProblems(args?.value).join('; '),
      },
    },
    options,
  );
}

/**
 * A copy of a headers object with every own name as sent, in a null-prototype object: names such as
 * `constructor`, `toString` or `__proto__` are header names like any other (RFC 9110 tokens), never
 * members of Object.prototype. Anything but a plain object is returned as is, for validation to refuse.
 */
export function headersAsSent(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const copy = Object.create(null) as Record<string, unknown>;
  for (const [name, v] of Object.entries(value)) copy[name] = v;
  return copy;
}

/**
 * class-transformer skips `__proto__` and `constructor` keys and loses `prototype`, `hasOwnProperty`,
 * `toString`… when it copies an untyped object: take the property from the raw body instead.
 */
export function KeepEveryHeaderName(): PropertyDecorator {
  return Transform(({ obj, key }) => headersAsSent((obj as Record<string, unknown>)[key]));
}
