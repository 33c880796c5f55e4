import type { DeliveryStatus } from '@ipm/lifecycle';

/**
 * Stats by the hour. `webhook_delivery_hours` holds, per webhook and UTC hour H, the deliveries
 * created in H that are terminal and "settled" (finished_at < created_at + SETTLE_MS). Everything
 * else of H (pending, in_flight, retrying, or finished late) is counted live, so a row never
 * changes once written: a delivery of H that finishes later is by definition unsettled. A row may
 * be written once H + 1 h + SETTLE_MS + ROLLUP_MARGIN_MS <= now (no delivery of H can still become
 * settled; the margin covers transactions that commit a little after their now()).
 * The row also holds the exact histogram of the durations of the attempts started in H (see
 * stats-latencies.ts): an attempt row is written when the attempt ends, at most the webhook's
 * timeout (<= 30 s) after its started_at, so those are final long before the counts are.
 * These helpers plan a stats read (which hours come from rows, which are scanned live, which rows
 * to write) and add the parts up; they are pure, and the SQL beside them in the repository is dumb.
 */
export const HOUR_MS = 3_600_000;
export const SETTLE_MS = HOUR_MS;
export const ROLLUP_MARGIN_MS = 300_000;
/** Rows older than this are outside every window (the retention job deletes them). */
export const HOUR_ROWS_KEPT_MS = 8 * 86_400_000;
/** Advisory locks (transaction-scoped, hashtext keys) between filling rows and deleting them. */
export const HOURS_LOCK = 'ipm.delivery_hours';
export const HOURS_RETENTION_LOCK = 'ipm.delivery_hours.retention';
/** Window starts, as now minus these, in the order of StatusWindowCounts (h1, h24, d7). */
export const STATS_WINDOW_MS = [HOUR_MS, 24 * HOUR_MS, 7 * 24 * HOUR_MS] as const;

/** Per-status counts of the deliveries created in each stats window (1h, 24h, 7d). */
export interface StatusWindowCounts {
  status: DeliveryStatus;
  h1: number;
  h24: number;
  d7: number;
}

/** One rolled-up hour (terminal and settled deliveries of the hour, durations of its attempts). */
export interface HourRow {
  hour: Date;
  success: number;
  failed: number;
  dead_letter: number;
  /** Attempts started in the hour; durations (ms, distinct, ascending) and how many lasted each. */
  attempts: number;
  durations: number[];
  duration_counts: number[];
}

/** Deliveries found by a live scan, grouped by their hour and status. */
export interface LiveGroup {
  hour: Date;
  status: DeliveryStatus;
  /** created_at >= the 1h / 24h window start, and all of the group (the ranges start inside 7d). */
  n1: number;
  n24: number;
  n7: number;
}

/** Unsettled deliveries of rolled-up hours, by status: of hours >= the 1h / 24h / 7d window start. */
export interface UnsettledGroup {
  status: DeliveryStatus;
  n1: number;
  n24: number;
  n7: number;
}

export interface StatsPlan {
  now: Date;
  /** Window starts: now - 1h, now - 24h, now - 7d. */
  since: [Date, Date, Date];
  /** The rows to use: hours fully inside 7d and old enough, that have a row. Ascending. */
  rolled: HourRow[];
  /** What is counted live: [lo, hi) ranges of created_at (also <= now), disjoint, ascending. */
  ranges: Array<{ lo: Date; hi: Date }>;
  /** Hours to write rows for (old enough, inside 7d, no row yet): each one is inside `ranges`. */
  fill: Date[];
}

export const hourFloor = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;

/** The oldest and newest hour that may have a row at `now` (inside 7d, old enough to be final). */
export function rollableHours(now: Date): { from: Date; to: Date } {
  const t = now.getTime();
  const from = Math.ceil((t - STATS_WINDOW_MS[2]) / HOUR_MS) * HOUR_MS;
  const to = hourFloor(t - HOUR_MS - SETTLE_MS - ROLLUP_MARGIN_MS);
  return { from: new Date(from), to: new Date(to) };
}

/**
 * Which hours of [now - 7d, now] come from `rows` and which are scanned live. A row-hour is used by
 * a window only when it lies wholly inside it (H >= the window's start); a row-hour that straddles a
 * window's start (now - 24h) is still used by 7d, and the part of it after that start is scanned
 * live for the narrower window only (see {@link combineCounts}).
 */
export function planStats(now: Date, rows: readonly HourRow[]): StatsPlan {
  const t = now.getTime();
  const since = STATS_WINDOW_MS.map((w) => new Date(t - w)) as [Date, Date, Date];
  const starts = since.map((d) => d.getTime());
  const { from, to } = rollableHours(now);
  const rolled = rows
    .filter((r) => r.hour.getTime() >= from.getTime() && r.hour.getTime() <= to.getTime())
    .sort((a, b) => a.hour.getTime() - b.hour.getTime());
  const rolledAt = new Set(rolled.map((r) => r.hour.getTime()));
  const ranges: Array<{ lo: number; hi: number }> = [];
  const fill: Date[] = [];
  const add = (lo: number, hi: number): void => {
    const last = ranges[ranges.length - 1];
    if (last && last.hi === lo) last.hi = hi;
    else ranges.push({ lo, hi });
  };
  for (let h = hourFloor(starts[2]); h <= hourFloor(t); h += HOUR_MS) {
    if (!rolledAt.has(h)) {
      add(Math.max(h, starts[2]), h + HOUR_MS);
      if (h >= from.getTime() && h <= to.getTime()) fill.push(new Date(h));
      continue;
    }
    // A row-hour straddling a narrower window's start: that window counts its tail live.
    const cut = starts.filter((s) => s > h && s < h + HOUR_MS);
    if (cut.length) add(Math.min(...cut), h + HOUR_MS);
  }
  return {
    now,
    since,
    rolled,
    ranges: ranges.map((r) => ({ lo: new Date(r.lo), hi: new Date(r.hi) })),
    fill,
  };
}

/**
 * Adds up the rows, the live groups and the unsettled deliveries of the rows' hours. A window w
 * uses a row-hour H iff H >= its start: then H's row and its unsettled deliveries count for w, and
 * its live deliveries (a straddling hour's tail) do not; otherwise H's live deliveries created
 * since w's start count.
 */
export function combineCounts(
  plan: StatsPlan,
  live: readonly LiveGroup[],
  unsettled: readonly UnsettledGroup[],
): StatusWindowCounts[] {
  const usedBy = rowUsedBy(plan);
  const out = new Map<DeliveryStatus, StatusWindowCounts>();
  const add = (status: DeliveryStatus, n: [number, number, number]): void => {
    const c = out.get(status) ?? { status, h1: 0, h24: 0, d7: 0 };
    c.h1 += n[0];
    c.h24 += n[1];
    c.d7 += n[2];
    out.set(status, c);
  };
  for (const r of plan.rolled) {
    const used = usedBy(r.hour.getTime());
    for (const status of ['success', 'failed', 'dead_letter'] as const) {
      add(status, used.map((u) => (u ? r[status] : 0)) as [number, number, number]);
    }
  }
  for (const g of live) {
    const used = usedBy(g.hour.getTime());
    const n = [g.n1, g.n24, g.n7];
    add(g.status, n.map((x, i) => (used[i] ? 0 : x)) as [number, number, number]);
  }
  for (const g of unsettled) add(g.status, [g.n1, g.n24, g.n7]);
  return [...out.values()];
}

/** For an hour (ms), which windows (1h, 24h, 7d) use its row: it has one and lies wholly inside them. */
export function rowUsedBy(plan: StatsPlan): (hour: number) => [boolean, boolean, boolean] {
  const starts = plan.since.map((d) => d.getTime());
  const rolledAt = new Set(plan.rolled.map((r) => r.hour.getTime()));
  return (hour) => starts.map((s) => rolledAt.has(hour) && hour >= s) as [boolean, boolean, boolean];
}
