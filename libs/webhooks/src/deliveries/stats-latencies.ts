import { rowUsedBy, StatsPlan } from './stats-hours';

/**
 * Stats latencies from exact histograms. Attempt durations are integer milliseconds, so a histogram
 * (distinct durations ascending, and how many attempts lasted each) loses nothing: the percentiles
 * below equal PostgreSQL's percentile_cont over the raw durations. A window's histogram is the sum
 * of the rows it uses (see rowUsedBy) and of the live attempts of the other hours.
 */

/** The percentiles reported, in this order. */
export const LATENCY_PERCENTILES = [0.5, 0.95] as const;

/** Attempts found by a live scan, grouped by the hour they started in and their duration. */
export interface LiveDurations {
  hour: Date;
  duration_ms: number;
  /** started_at >= the 1h / 24h window start, and all of the group (the ranges start inside 7d). */
  n1: number;
  n24: number;
  n7: number;
}

export interface AttemptLatencies {
  attempts: [number, number, number];
  /** [p50, p95] per window (1h, 24h, 7d); null when no attempt started in it. */
  percentiles: [number[] | null, number[] | null, number[] | null];
}

/** A histogram: `values` distinct and ascending, counts[i] > 0 the number of times values[i] occurs. */
export interface Histogram {
  values: number[];
  counts: number[];
}

/**
 * percentile_cont(p) of the values a histogram describes: sorted v[0..n-1], position p * (n - 1),
 * linear interpolation between v[floor] and v[ceil] (as PostgreSQL's float8 lerp computes it);
 * null when n = 0.
 */
export function percentileCont(h: Histogram, p: number): number | null {
  const n = h.counts.reduce((a, c) => a + c, 0);
  if (n === 0) return null;
  const pos = p * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const at = (rank: number): number => {
    let seen = 0;
    for (let i = 0; i < h.values.length; i++) {
      seen += h.counts[i];
      if (rank < seen) return h.values[i];
    }
    return h.values[h.values.length - 1];
  };
  const first = at(lo);
  if (hi === lo) return first;
  const second = at(hi);
  return first + (second - first) * (pos - lo);
}

/** Durations up to this (ms) are tallied in a dense array (the webhook timeout is at most 30 s). */
const DENSE_MAX = 65_535;

/** Adds up (value, count) pairs into one histogram: by index below DENSE_MAX, else in a map. */
class Tally {
  private readonly dense = new Float64Array(DENSE_MAX + 1);
  private readonly sparse = new Map<number, number>();
  private denseTop = -1;
  total = 0;

  add(value: number, count: number): void {
    if (count <= 0) return;
    if (value >= 0 && value <= DENSE_MAX) {
      this.dense[value] += count;
      if (value > this.denseTop) this.denseTop = value;
    } else this.sparse.set(value, (this.sparse.get(value) ?? 0) + count);
    this.total += count;
  }

  histogram(): Histogram {
    const h: Histogram = { values: [], counts: [] };
    const sparse = [...this.sparse.keys()].sort((a, b) => a - b);
    const push = (v: number, c: number): void => {
      h.values.push(v);
      h.counts.push(c);
    };
    let i = 0;
    for (; i < sparse.length && sparse[i] < 0; i++) push(sparse[i], this.sparse.get(sparse[i]) as number);
    for (let v = 0; v <= this.denseTop; v++) if (this.dense[v] > 0) push(v, this.dense[v]);
    for (; i < sparse.length; i++) push(sparse[i], this.sparse.get(sparse[i]) as number);
    return h;
  }
}

/**
 * Attempt counts and percentiles per window: a window uses a row's histogram when it uses the row
 * (the hour has one and lies wholly inside the window), and the live attempts of every other hour
 * started since its start (a straddling row-hour's tail included).
 */
export function combineLatencies(plan: StatsPlan, live: readonly LiveDurations[]): AttemptLatencies {
  const usedBy = rowUsedBy(plan);
  const tallies = [new Tally(), new Tally(), new Tally()];
  for (const r of plan.rolled) {
    const used = usedBy(r.hour.getTime());
    tallies.forEach((t, w) => {
      if (!used[w]) return;
      for (let i = 0; i < r.durations.length; i++) t.add(r.durations[i], r.duration_counts[i]);
    });
  }
  for (const g of live) {
    const used = usedBy(g.hour.getTime());
    const n = [g.n1, g.n24, g.n7];
    tallies.forEach((t, w) => {
      if (!used[w]) t.add(g.duration_ms, n[w]);
    });
  }
  const percentiles = tallies.map((t) => {
    if (t.total === 0) return null;
    const h = t.histogram();
    return LATENCY_PERCENTILES.map((p) => percentileCont(h, p) as number);
  });
  return {
    attempts: tallies.map((t) => t.total) as [number, number, number],
    percentiles: percentiles as AttemptLatencies['percentiles'],
  };
}

/**
 * An int[] (one dimension, no NULL) from PostgreSQL's binary form (array_send): ndim, has-nulls flag,
 * element type, then per dimension its length and lower bound, then per element its byte length (4)
 * and its value, big-endian. An empty array has ndim 0 and nothing after the element type.
 */
export function decodeInt4Array(b: Buffer): number[] {
  const ndim = b.readInt32BE(0);
  if (ndim === 0) return [];
  if (ndim !== 1 || b.readInt32BE(4) !== 0) throw new Error('expected a one-dimensional int[] without NULL');
  const n = b.readInt32BE(12);
  const out = new Array<number>(n);
  for (let i = 0, o = 24; i < n; i++, o += 8) out[i] = b.readInt32BE(o);
  return out;
}
