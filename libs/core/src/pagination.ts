import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { AppError } from './errors';

export const PAGE_DEFAULT = 8;
export const PAGE_MIN = 1;
export const PAGE_MAX = 256;
export const PAGE_TOKEN_NAME = 'next_token';

/** `limit` default 8, clamped to 1-256 (a non-integer is truncated). */
export function clampLimit(limit: number | undefined | null): number {
  if (limit === undefined || limit === null || !Number.isFinite(limit)) return PAGE_DEFAULT;
  return Math.min(PAGE_MAX, Math.max(PAGE_MIN, Math.trunc(limit)));
}

/** What a token is bound to: a token minted for one tenant, list or filter set is refused by another. */
export interface PageScope {
  orgcode: string;
  /** The list, e.g. `apikey.list`. */
  resource: string;
  /** The filters and ordering the first page was asked with (any JSON value). */
  filters?: unknown;
}

export type Cursor = Array<string | number | boolean | null>;

interface TokenBody {
  v: 1;
  o: string;
  r: string;
  f: string;
  c: Cursor;
}

const MAC_BYTES = 16;

function b64url(buf: Buffer | string): string {
  return Buffer.from(buf).toString('base64url');
}

/** Stable JSON: object keys sorted, so equal filters always hash alike. */
export function stableStringify(value: unknown): string {
  const out: string[] = [];
  writeStable(value, out);
  return out.join('');
}

/** Keys JSON writes as they are, between quotes. */
const PLAIN_KEY = /^[\w.:-]*$/;

/** stableStringify's writer: pieces pushed to one array, keys sorted in place, joined once. */
function writeStable(value: unknown, out: string[]): void {
  if (value === undefined || value === null || typeof value !== 'object') {
    out.push(value === undefined ? 'null' : JSON.stringify(value));
    return;
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      writeStable(value[i], out);
    }
    out.push(']');
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  out.push('{');
  let first = true;
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) continue;
    const quoted = PLAIN_KEY.test(key) ? `"${key}"` : JSON.stringify(key);
    out.push(first ? quoted : `,${quoted}`, ':');
    first = false;
    writeStable(v, out);
  }
  out.push('}');
}

/**
 * Opaque, tamper-evident keyset tokens: base64url(JSON) + "." + truncated HMAC-SHA256.
 * The body holds the last row's sort key; the MAC covers it and the scope.
 */
export class PageTokenCodec {
  private readonly key: Buffer;

  constructor(secret: string | Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'ipm', 'ipm-page-token-v1', 32));
  }

  encode(scope: PageScope, cursor: Cursor): string {
    const body: TokenBody = { v: 1, o: scope.orgcode, r: scope.resource, f: this.filterHash(scope.filters), c: cursor };
    const payload = b64url(JSON.stringify(body));
    return `${payload}.${this.mac(payload)}`;
  }

  /** The cursor inside a token minted for this scope; a 400 naming `next_token` otherwise. */
  decode(token: string, scope: PageScope): Cursor {
    const invalid = (why: string): AppError => AppError.badRequest(`next_token is invalid: ${why}`, PAGE_TOKEN_NAME);
    if (typeof token !== 'string' || token.length > 2048) throw invalid('malformed');
    const dot = token.indexOf('.');
    if (dot <= 0) throw invalid('malformed');
    const payload = token.slice(0, dot);
    // Compare the MAC text as sent: base64url decoding is lenient (skips junk, ignores spare bits).
    const given = Buffer.from(token.slice(dot + 1), 'utf8');
    const expected = Buffer.from(this.mac(payload), 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid('signature mismatch');
    let body: TokenBody;
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenBody;
    } catch {
      throw invalid('malformed');
    }
    if (body.v !== 1 || !Array.isArray(body.c)) throw invalid('unsupported version');
    if (body.o !== scope.orgcode || body.r !== scope.resource) throw invalid('it belongs to another list');
    if (body.f !== this.filterHash(scope.filters)) throw invalid('the filters changed since the first page');
    return body.c;
  }

  private filterHash(filters: unknown): string {
    return createHmac('sha256', this.key).update(stableStringify(filters)).digest('base64url').slice(0, 16);
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest().subarray(0, MAC_BYTES).toString('base64url');
  }
}

export interface Page<T> {
  items: T[];
  next_token?: string;
}
