import { idTime, IdPrefix, isId, newId } from './ids';

/** The ids module loaded afresh, with a monotonic factory that has issued nothing yet. */
function freshIds(): typeof import('./ids') {
  let mod: typeof import('./ids') | undefined;
  jest.isolateModules(() => {
    mod = jest.requireActual<typeof import('./ids')>('./ids');
  });
  if (!mod) throw new Error('ids module not loaded');
  return mod;
}

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('newId', () => {
  it.each(Object.values(IdPrefix))('has the form %s_<26 Crockford base32 chars>', (prefix) => {
    const id = newId(prefix);
    const [p, ulid, ...rest] = id.split('_');
    expect(p).toBe(prefix);
    expect(rest).toEqual([]);
    expect(ulid).toMatch(CROCKFORD);
    expect(id).toHaveLength(prefix.length + 1 + 26);
  });

  it('is unique and strictly increasing within the same millisecond', () => {
    const fresh = freshIds();
    const now = Date.UTC(2030, 0, 1);
    const ids = Array.from({ length: 500 }, () => fresh.newId(IdPrefix.Webhook, now));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    expect(ids.every((id) => idTime(id) === now)).toBe(true);
    // Only the random part moves within the millisecond.
    expect(new Set(ids.map((id) => id.slice(4, 14))).size).toBe(1);
  });

  it('stays increasing when asked for an earlier time than the last id (clock going back)', () => {
    const fresh = freshIds();
    const later = fresh.newId(IdPrefix.Webhook, Date.UTC(2030, 0, 2));
    const earlier = fresh.newId(IdPrefix.Webhook, Date.UTC(2030, 0, 1));
    expect(earlier > later).toBe(true);
  });

  it('sorts by creation time across milliseconds', () => {
    const fresh = freshIds();
    const t = Date.UTC(2031, 5, 1);
    const a = fresh.newId(IdPrefix.Event, t);
    const b = fresh.newId(IdPrefix.Event, t + 1);
    const c = fresh.newId(IdPrefix.Event, t + 60_000);
    expect([c, a, b].sort()).toEqual([a, b, c]);
    expect([a, b, c].map((id) => idTime(id))).toEqual([t, t + 1, t + 60_000]);
  });
});

describe('isId', () => {
  it('accepts a freshly minted id of the prefix', () => {
    expect(isId(IdPrefix.Delivery, newId(IdPrefix.Delivery))).toBe(true);
    expect(isId(IdPrefix.Webhook, 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E')).toBe(true);
  });

  it.each<[string, unknown]>([
    ['another prefix', newId(IdPrefix.Event)],
    ['no prefix', '01JD3V5T0K6Z8Q9W2X4Y7B1C3E'],
    ['lower case', 'whk_01jd3v5t0k6z8q9w2x4y7b1c3e'],
    ['excluded letter I', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3I'],
    ['excluded letter L', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3L'],
    ['excluded letter O', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3O'],
    ['excluded letter U', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3U'],
    ['too short', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3'],
    ['too long', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3EE'],
    ['trailing newline', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E\n'],
    ['leading text', 'xwhk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E'],
    ['empty', ''],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an object', { id: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }],
  ])('refuses %s', (_label, value) => {
    expect(isId(IdPrefix.Webhook, value)).toBe(false);
  });
});

describe('idTime', () => {
  it('decodes the millisecond time of an id', () => {
    // A fresh module: the monotonic factory keeps the latest time it has issued, so an id asked
    // for an earlier time than one minted before (by the tests above) would carry the later time.
    const fresh = freshIds();
    const t = Date.UTC(2024, 10, 5, 12, 34, 56, 789);
    expect(fresh.idTime(fresh.newId(IdPrefix.Job, t))).toBe(t);
  });

  it('decodes the time of an id minted now', () => {
    const before = Date.now();
    const id = newId(IdPrefix.Alert);
    expect(idTime(id)).toBeGreaterThanOrEqual(before);
    expect(idTime(id)).toBeLessThanOrEqual(Date.now());
  });

  it('decodes a known ULID', () => {
    // 01ARZ3NDEK, the time part of the ULID spec's example, is 1469922850259 ms (ulid's decodeTime).
    expect(idTime('evt_01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe(1469922850259);
    expect(idTime('evt_7ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(2 ** 48 - 1);
    expect(idTime('00000000000000000000000000')).toBe(0);
  });

  it.each(['whk_', 'whk_short', 'whk_01jd3v5t0k6z8q9w2x4y7b1c3e', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3EXX', ''])(
    'is undefined for the malformed %p',
    (value) => {
      expect(idTime(value)).toBeUndefined();
    },
  );
});
