import { AppError } from './errors';
import {
  clampLimit,
  Cursor,
  PAGE_DEFAULT,
  PAGE_MAX,
  PAGE_MIN,
  PageScope,
  PageTokenCodec,
  stableStringify,
} from './pagination';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

/** The error a refused token must produce: a 400 whose details name `next_token`. */
function expectTokenRefused(fn: () => unknown): AppError {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(AppError);
  const appErr = err as AppError;
  expect(appErr.status).toBe(400);
  expect(appErr.code).toBe('validation_failed');
  expect(appErr.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'next_token' })]));
  expect(appErr.message).toMatch(/next_token/);
  return appErr;
}

describe('clampLimit', () => {
  it.each<[number | undefined | null, number]>([
    [undefined, 8],
    [null, 8],
    [Number.NaN, 8],
    [Number.POSITIVE_INFINITY, 8],
    [Number.NEGATIVE_INFINITY, 8],
    [0, 1],
    [-5, 1],
    [1, 1],
    [8, 8],
    [256, 256],
    [257, 256],
    [1000, 256],
    [3.7, 3],
    [0.9, 1],
    [255.99, 255],
  ])('%p -> %p', (input, expected) => {
    expect(clampLimit(input)).toBe(expected);
  });

  it('exposes the documented bounds', () => {
    expect([PAGE_DEFAULT, PAGE_MIN, PAGE_MAX]).toEqual([8, 1, 256]);
  });
});

describe('stableStringify', () => {
  it('is independent of key order, at every depth', () => {
    const a = { b: 1, a: { y: [1, { q: 1, p: 2 }], x: 'z' }, c: null };
    const b = { c: null, a: { x: 'z', y: [1, { p: 2, q: 1 }] }, b: 1 };
    expect(stableStringify(a)).toBe(stableStringify(b));
    expect(stableStringify(a)).toBe('{"a":{"x":"z","y":[1,{"p":2,"q":1}]},"b":1,"c":null}');
  });

  it('keeps array order significant', () => {
    expect(stableStringify([1, 2])).not.toBe(stableStringify([2, 1]));
  });

  it('distinguishes different values', () => {
    expect(stableStringify({ a: 1 })).not.toBe(stableStringify({ a: '1' }));
    expect(stableStringify({ a: 1 })).not.toBe(stableStringify({ b: 1 }));
  });

  it('drops undefined properties and renders undefined as null', () => {
    expect(stableStringify({ a: 1, b: undefined })).toBe(stableStringify({ a: 1 }));
    expect(stableStringify(undefined)).toBe('null');
    expect(stableStringify([undefined])).toBe('[null]');
  });

  it('renders scalars as JSON', () => {
    expect(stableStringify('x"y')).toBe('"x\\"y"');
    expect(stableStringify(12.5)).toBe('12.5');
    expect(stableStringify(true)).toBe('true');
    expect(stableStringify(null)).toBe('null');
  });
});

describe('PageTokenCodec', () => {
  const codec = new PageTokenCodec('unit-test-secret');
  const scope: PageScope = { orgcode: 'acme', resource: 'webhook.list', filters: { status: 'active', order: 'desc' } };
  const cursor: Cursor = ['2025-01-01T00:00:00.000Z', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', 7, true, null];

  function parts(token: string): [string, string] {
    const dot = token.indexOf('.');
    return [token.slice(0, dot), token.slice(dot + 1)];
  }

  it('round-trips a cursor', () => {
    const token = codec.encode(scope, cursor);
    expect(codec.decode(token, scope)).toEqual(cursor);
  });

  it('produces an opaque, URL-safe token', () => {
    const token = codec.encode(scope, cursor);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(token).not.toContain('acme');
    expect(token).not.toContain('whk_');
  });

  it('accepts equal filters given with another key order', () => {
    const token = codec.encode(scope, cursor);
    expect(codec.decode(token, { ...scope, filters: { order: 'desc', status: 'active' } })).toEqual(cursor);
  });

  it('treats absent filters consistently', () => {
    const token = codec.encode({ orgcode: 'acme', resource: 'apikey.list' }, ['a']);
    expect(codec.decode(token, { orgcode: 'acme', resource: 'apikey.list' })).toEqual(['a']);
  });

  it('refuses a tampered payload (a re-encoded body with another cursor)', () => {
    const token = codec.encode(scope, cursor);
    const [payload, mac] = parts(token);
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    body.c = ['1970-01-01T00:00:00.000Z', 'whk_00000000000000000000000000', 0, true, null];
    const forged = `${Buffer.from(JSON.stringify(body)).toString('base64url')}.${mac}`;
    expectTokenRefused(() => codec.decode(forged, scope));
  });

  it('refuses a payload with one character changed', () => {
    const token = codec.encode(scope, cursor);
    const [payload, mac] = parts(token);
    const flipped = (payload[0] === 'A' ? 'B' : 'A') + payload.slice(1);
    expectTokenRefused(() => codec.decode(`${flipped}.${mac}`, scope));
  });

  it('refuses a tampered MAC', () => {
    const token = codec.encode(scope, cursor);
    const [payload, mac] = parts(token);
    const flipped = mac.slice(0, -2) + (mac.at(-2) === 'A' ? 'B' : 'A') + mac.slice(-1);
    expect(flipped).not.toBe(mac);
    expectTokenRefused(() => codec.decode(`${payload}.${flipped}`, scope));
  });

  it('refuses a MAC with junk appended, padded or with junk inserted (only the issued string is valid)', () => {
    const token = codec.encode(scope, cursor);
    const [payload, mac] = parts(token);
    for (const forged of [`${token}=`, `${token}==junk`, `${token}!!`, `${payload}.!${mac}`, `${payload}.${mac} `]) {
      expectTokenRefused(() => codec.decode(forged, scope));
    }
  });

  it('refuses a MAC whose last character was changed, even within the bits base64 leaves unused', () => {
    // 16 MAC bytes are 22 base64url characters; the last one carries 2 bits and 4 unused ones.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const token = codec.encode(scope, cursor);
    const [payload, mac] = parts(token);
    expect(mac).toHaveLength(22);
    const last = alphabet.indexOf(mac.at(-1) as string);
    const sibling = alphabet[(last & ~0b1111) | ((last + 1) & 0b1111)];
    expect(sibling).not.toBe(mac.at(-1));
    expectTokenRefused(() => codec.decode(`${payload}.${mac.slice(0, -1)}${sibling}`, scope));
  });

  it('refuses a MAC made with another secret', () => {
    const other = new PageTokenCodec('another-secret');
    expectTokenRefused(() => codec.decode(other.encode(scope, cursor), scope));
  });

  it('refuses a truncated token', () => {
    const token = codec.encode(scope, cursor);
    expectTokenRefused(() => codec.decode(token.slice(0, token.length - 3), scope));
    expectTokenRefused(() => codec.decode(token.slice(0, token.indexOf('.')), scope));
    expectTokenRefused(() => codec.decode(token.slice(0, token.indexOf('.') + 1), scope));
    expectTokenRefused(() => codec.decode(token.slice(5), scope));
  });

  it.each(['', '.', '.abc', 'not base64!!', '%%%.***', '!!!!.????', 'a.b.c', 'x'.repeat(3000)])(
    'refuses the malformed token %p',
    (bad) => {
      expectTokenRefused(() => codec.decode(bad, scope));
    },
  );

  it('refuses a non-string token', () => {
    expectTokenRefused(() => codec.decode(42 as unknown as string, scope));
    expectTokenRefused(() => codec.decode(null as unknown as string, scope));
  });

  it('refuses a correctly signed payload that is not JSON', () => {
    // A token signed by this codec over a non-JSON payload: only the JSON parse can catch it.
    const payload = Buffer.from('not json at all').toString('base64url');
    const mac = (codec as unknown as { mac(p: string): string }).mac(payload);
    const err = expectTokenRefused(() => codec.decode(`${payload}.${mac}`, scope));
    expect(err.message).toMatch(/malformed/);
  });

  it('refuses a token of another tenant (orgcode)', () => {
    const token = codec.encode(scope, cursor);
    const err = expectTokenRefused(() => codec.decode(token, { ...scope, orgcode: 'globex' }));
    expect(err.message).toMatch(/another list/);
  });

  it('refuses a token of another resource', () => {
    const token = codec.encode(scope, cursor);
    expectTokenRefused(() => codec.decode(token, { ...scope, resource: 'delivery.list' }));
  });

  it('refuses a token whose filters changed', () => {
    const token = codec.encode(scope, cursor);
    const err = expectTokenRefused(() =>
      codec.decode(token, { ...scope, filters: { status: 'paused', order: 'desc' } }),
    );
    expect(err.message).toMatch(/filters changed/);
    expectTokenRefused(() => codec.decode(token, { ...scope, filters: undefined }));
    expectTokenRefused(() => codec.decode(token, { ...scope, filters: { status: 'active' } }));
  });
});
