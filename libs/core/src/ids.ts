import { monotonicFactory } from 'ulid';

/** Every id prefix the platform hands out: `<prefix>_<ULID>`. */
export const IdPrefix = {
  Webhook: 'whk',
  Delivery: 'dlv',
  Replay: 'rpl',
  Event: 'evt',
  Job: 'job',
  Kpi: 'kpi',
  Alert: 'alr',
  ApiKey: 'key',
  Audit: 'aud',
  Error: 'err',
} as const;
export type IdPrefix = (typeof IdPrefix)[keyof typeof IdPrefix];

const nextUlid = monotonicFactory();
/** 26 Crockford base32 characters; the first is 0-7 because the time part has 48 bits. */
const ULID_RE = '[0-7][0-9A-HJKMNP-TV-Z]{25}';
const patterns = new Map<string, RegExp>();

/** A new time-ordered id, e.g. `whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E`. */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${nextUlid(now)}`;
}

/** The pattern of a well-formed id of that prefix (`<prefix>_` + a ULID). */
export function idPattern(prefix: IdPrefix): RegExp {
  let re = patterns.get(prefix);
  if (!re) {
    re = new RegExp(`^${prefix}_${ULID_RE}$`);
    patterns.set(prefix, re);
  }
  return re;
}

/** True when `value` is a well-formed id of that prefix. */
export function isId(prefix: IdPrefix, value: unknown): value is string {
  return typeof value === 'string' && idPattern(prefix).test(value);
}

/** The creation time encoded in an id's ULID (ms since epoch), or undefined if malformed. */
export function idTime(value: string): number | undefined {
  const ulid = value.slice(value.indexOf('_') + 1);
  if (!new RegExp(`^${ULID_RE}$`).test(ulid)) return undefined;
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let t = 0;
  for (const ch of ulid.slice(0, 10)) t = t * 32 + alphabet.indexOf(ch);
  return t;
}
