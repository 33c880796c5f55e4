import {
  combineCounts,
  HOUR_MS,
  HourRow,
  LiveGroup,
  planStats,
  rollableHours,
  StatsPlan,
  StatusWindowCounts,
} from './stats-hours';

const at = (iso: string): Date => new Date(iso);
const row = (hour: string, success = 1, failed = 0, dead_letter = 0): HourRow => ({
  hour: at(hour),
  success,
  failed,
  dead_letter,
  attempts: 0,
  durations: [],
  duration_counts: [],
});
const iso = (ds: readonly Date[]): string[] => ds.map((d) => d.toISOString());
const ranges = (p: StatsPlan): string[][] => p.ranges.map((r) => [r.lo.toISOString(), r.hi.toISOString()]);

describe('rollableHours', () => {
  it('inside 7d (first whole hour), final once H + 1h + 1h settle + 5 min <= now', () => {
    const r = rollableHours(at('2026-03-10T12:30:00Z'));
    expect(r.from.toISOString()).toBe('2026-03-03T13:00:00.000Z');
    expect(r.to.toISOString()).toBe('2026-03-10T10:00:00.000Z');
  });

  it('edges: an hour exactly 7d ago is inside; H + 2h05 == now is final', () => {
    const r = rollableHours(at('2026-03-10T12:05:00Z'));
    expect(r.to.toISOString()).toBe('2026-03-10T10:00:00.000Z');
    expect(rollableHours(at('2026-03-10T12:04:59.999Z')).to.toISOString()).toBe('2026-03-10T09:00:00.000Z');
    expect(rollableHours(at('2026-03-10T12:00:00Z')).from.toISOString()).toBe('2026-03-03T12:00:00.000Z');
  });
});

describe('planStats', () => {
  const now = at('2026-03-10T12:30:00Z');

  it('no rows: one live range over the whole 7 days, every final hour to fill', () => {
    const p = planStats(now, []);
    expect(ranges(p)).toEqual([['2026-03-03T12:30:00.000Z', '2026-03-10T13:00:00.000Z']]);
    expect(p.fill).toHaveLength(166);
    expect(p.fill[0].toISOString()).toBe('2026-03-03T13:00:00.000Z');
    expect(p.fill[165].toISOString()).toBe('2026-03-10T10:00:00.000Z');
  });

  it('all rows: the partial first hour, the 24h-straddling tail and the last hours are live', () => {
    const rows = planStats(now, []).fill.map((h) => row(h.toISOString()));
    const p = planStats(now, rows);
    expect(p.rolled).toHaveLength(166);
    expect(p.fill).toEqual([]);
    expect(ranges(p)).toEqual([
      ['2026-03-03T12:30:00.000Z', '2026-03-03T13:00:00.000Z'],
      ['2026-03-09T12:30:00.000Z', '2026-03-09T13:00:00.000Z'],
      ['2026-03-10T11:00:00.000Z', '2026-03-10T13:00:00.000Z'],
    ]);
  });

  it('ignores rows outside what may be used (too old, not final yet); a missing hour is live and filled', () => {
    const p = planStats(now, [
      row('2026-03-03T12:00:00Z'),
      row('2026-03-10T11:00:00Z'),
      row('2026-03-05T01:00:00Z'),
      row('2026-03-05T03:00:00Z'),
    ]);
    expect(iso(p.rolled.map((r) => r.hour))).toEqual(['2026-03-05T01:00:00.000Z', '2026-03-05T03:00:00.000Z']);
    expect(p.fill).toHaveLength(164);
    expect(ranges(p)).toEqual([
      ['2026-03-03T12:30:00.000Z', '2026-03-05T01:00:00.000Z'],
      ['2026-03-05T02:00:00.000Z', '2026-03-05T03:00:00.000Z'],
      ['2026-03-05T04:00:00.000Z', '2026-03-10T13:00:00.000Z'],
    ]);
  });

  it('on the hour: no straddling hour, no partial first hour', () => {
    const onTheHour = at('2026-03-10T12:00:00Z');
    const rows = planStats(onTheHour, []).fill.map((h) => row(h.toISOString()));
    expect(ranges(planStats(onTheHour, rows))).toEqual([['2026-03-10T10:00:00.000Z', '2026-03-10T13:00:00.000Z']]);
  });
});

describe('combineCounts', () => {
  const now = at('2026-03-10T12:30:00Z');
  const sorted = (c: StatusWindowCounts[]) => [...c].sort((a, b) => a.status.localeCompare(b.status));

  it('a row counts for the windows it lies wholly inside; its unsettled deliveries likewise', () => {
    const p = planStats(now, [row('2026-03-09T12:00:00Z', 10, 2, 1), row('2026-03-09T14:00:00Z', 5)]);
    const counts = combineCounts(p, [], [{ status: 'retrying', n1: 0, n24: 1, n7: 3 }]);
    expect(sorted(counts)).toEqual([
      { status: 'dead_letter', h1: 0, h24: 0, d7: 1 },
      { status: 'failed', h1: 0, h24: 0, d7: 2 },
      { status: 'retrying', h1: 0, h24: 1, d7: 3 },
      { status: 'success', h1: 0, h24: 5, d7: 15 },
    ]);
  });

  it('live groups count for each window since its start, except a rolled hour for the windows using its row', () => {
    const p = planStats(now, [row('2026-03-09T12:00:00Z', 10)]);
    const live: LiveGroup[] = [
      // the tail of the straddling row-hour (after now - 24h): 24h only
      { hour: at('2026-03-09T12:00:00Z'), status: 'success', n1: 0, n24: 4, n7: 4 },
      // a live hour
      { hour: at('2026-03-10T12:00:00Z'), status: 'success', n1: 7, n24: 7, n7: 7 },
      { hour: at('2026-03-04T00:00:00Z'), status: 'failed', n1: 0, n24: 0, n7: 2 },
    ];
    expect(sorted(combineCounts(p, live, []))).toEqual([
      { status: 'dead_letter', h1: 0, h24: 0, d7: 0 },
      { status: 'failed', h1: 0, h24: 0, d7: 2 },
      { status: 'success', h1: 7, h24: 11, d7: 17 },
    ]);
  });

  it('an hour of HOUR_MS', () => {
    expect(HOUR_MS).toBe(3_600_000);
  });
});
