import { HourRow, planStats } from './stats-hours';
import { combineLatencies, decodeInt4Array, Histogram, LiveDurations, percentileCont } from './stats-latencies';

const at = (iso: string): Date => new Date(iso);

/** percentile_cont as PostgreSQL defines it, over the raw values (the reference). */
const reference = (raw: number[], p: number): number | null => {
  if (raw.length === 0) return null;
  const v = [...raw].sort((a, b) => a - b);
  const pos = p * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return lo === hi ? v[lo] : v[lo] + (v[hi] - v[lo]) * (pos - lo);
};
const histogramOf = (raw: number[]): Histogram => {
  const byValue = new Map<number, number>();
  for (const x of raw) byValue.set(x, (byValue.get(x) ?? 0) + 1);
  const values = [...byValue.keys()].sort((a, b) => a - b);
  return { values, counts: values.map((x) => byValue.get(x) as number) };
};
const hourRow = (hour: string, raw: number[]): HourRow => {
  const h = histogramOf(raw);
  return {
    hour: at(hour),
    success: 0,
    failed: 0,
    dead_letter: 0,
    attempts: raw.length,
    durations: h.values,
    duration_counts: h.counts,
  };
};

describe('percentileCont', () => {
  it('null without values; the value itself for one', () => {
    expect(percentileCont({ values: [], counts: [] }, 0.5)).toBeNull();
    expect(percentileCont({ values: [42], counts: [3] }, 0.95)).toBe(42);
  });

  it('interpolates between floor and ceil of p * (n - 1)', () => {
    // 100, 200, 300, 400: p50 at 1.5 -> 250; p95 at 2.85 -> 385
    const h = histogramOf([400, 100, 300, 200]);
    expect(percentileCont(h, 0.5)).toBe(250);
    expect(percentileCont(h, 0.95)).toBeCloseTo(385, 9);
    expect(percentileCont(h, 0)).toBe(100);
    expect(percentileCont(h, 1)).toBe(400);
  });

  it('repeated values: ranks fall inside and across runs', () => {
    // 5, 5, 5, 9, 9: p50 at 2 -> 5; p95 at 3.8 -> 9; p60 at 2.4 -> 5 + 4 * 0.4
    const h = { values: [5, 9], counts: [3, 2] };
    expect(percentileCont(h, 0.5)).toBe(5);
    expect(percentileCont(h, 0.95)).toBe(9);
    expect(percentileCont(h, 0.6)).toBe(reference([5, 5, 5, 9, 9], 0.6));
  });

  it('equals percentile_cont of the raw values, exactly, for random data', () => {
    let seed = 7;
    const rand = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 200; trial++) {
      const raw = Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 2000));
      const h = histogramOf(raw);
      for (const p of [0, 0.01, 0.5, 0.9, 0.95, 0.99, 1]) expect(percentileCont(h, p)).toBe(reference(raw, p));
    }
  });
});

describe('decodeInt4Array (array_send of an int[])', () => {
  const sent = (values: number[]): Buffer => {
    if (values.length === 0) return Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23]);
    const b = Buffer.alloc(20 + 8 * values.length);
    [1, 0, 23, values.length, 1].forEach((x, i) => b.writeInt32BE(x, 4 * i));
    values.forEach((v, i) => {
      b.writeInt32BE(4, 20 + 8 * i);
      b.writeInt32BE(v, 24 + 8 * i);
    });
    return b;
  };

  it('reads the values in order; an empty array is empty', () => {
    expect(decodeInt4Array(sent([]))).toEqual([]);
    expect(decodeInt4Array(sent([5, 70_000, -1, 2_147_483_647]))).toEqual([5, 70_000, -1, 2_147_483_647]);
  });

  it('refuses two dimensions', () => {
    const b = sent([1, 2]);
    b.writeInt32BE(2, 0);
    expect(() => decodeInt4Array(b)).toThrow('one-dimensional');
  });
});

describe('combineLatencies', () => {
  const now = at('2026-03-10T12:30:00Z');

  it('no rows, nothing live: zero attempts and null percentiles', () => {
    expect(combineLatencies(planStats(now, []), [])).toEqual({ attempts: [0, 0, 0], percentiles: [null, null, null] });
  });

  it('rows count for the windows they lie wholly inside; live durations for the others', () => {
    // 2026-03-09T12:00 straddles now - 24h (12:30): its row is 7d's only, 24h reads its tail live.
    const straddling = hourRow('2026-03-09T12:00:00Z', [10, 20, 20, 30]);
    const inside24 = hourRow('2026-03-09T14:00:00Z', [40, 50]);
    const old = hourRow('2026-03-05T03:00:00Z', [1000, 1000, 2000]);
    const plan = planStats(now, [straddling, inside24, old]);
    const live: LiveDurations[] = [
      // the tail of the straddling hour (after now - 24h): raw attempts, 24h only (7d has them in the row)
      { hour: at('2026-03-09T12:00:00Z'), duration_ms: 30, n1: 0, n24: 1, n7: 1 },
      // the current hour: every window
      { hour: at('2026-03-10T12:00:00Z'), duration_ms: 5, n1: 2, n24: 2, n7: 2 },
      // an hour without a row, 3 days ago: 7d only
      { hour: at('2026-03-07T00:00:00Z'), duration_ms: 60, n1: 0, n24: 0, n7: 1 },
      // an hour without a row before now - 1h: 24h and 7d
      { hour: at('2026-03-10T11:00:00Z'), duration_ms: 7, n1: 0, n24: 3, n7: 3 },
    ];
    const windows = [
      [5, 5],
      [30, 40, 50, 5, 5, 7, 7, 7],
      [10, 20, 20, 30, 40, 50, 1000, 1000, 2000, 5, 5, 60, 7, 7, 7],
    ];
    const got = combineLatencies(plan, live);
    expect(got.attempts).toEqual(windows.map((w) => w.length));
    got.percentiles.forEach((p, i) => {
      expect(p).toEqual([reference(windows[i], 0.5), reference(windows[i], 0.95)]);
    });
  });

  it('durations beyond the dense range and below zero sort in with the others', () => {
    const raw = [-3, 5, 70_000, 5, 65_535, 65_536, 1_000_000];
    const live = raw.map((d) => ({ hour: at('2026-03-10T12:00:00Z'), duration_ms: d, n1: 1, n24: 1, n7: 1 }));
    const got = combineLatencies(planStats(now, []), live);
    expect(got.attempts).toEqual([7, 7, 7]);
    expect(got.percentiles[2]).toEqual([reference(raw, 0.5), reference(raw, 0.95)]);
    expect(got.percentiles[2]).toEqual([65_535, reference(raw, 0.95)]);
  });

  it('a row ignored by the plan (not final yet) adds nothing: its hour is read live', () => {
    const plan = planStats(now, [hourRow('2026-03-10T11:00:00Z', [999])]);
    const got = combineLatencies(plan, [{ hour: at('2026-03-10T11:00:00Z'), duration_ms: 3, n1: 0, n24: 1, n7: 1 }]);
    expect(got).toEqual({ attempts: [0, 1, 1], percentiles: [null, [3, 3], [3, 3]] });
  });
});
