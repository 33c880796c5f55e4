import { parseInstant } from '../buckets';
import { rollupSql, seriesSql } from './kpi-query.sql';
import { ceilToBucket, checkWindow, rollupFineRange, rollupMismatch, rollupPageFrom } from './kpi-rollup';

const at = (iso: string): Date => new Date(iso);

describe('roll-up maths', () => {
  describe('rollupMismatch', () => {
    it.each([
      ['hourly', 'daily'],
      ['hourly', 'weekly'],
      ['hourly', 'monthly'],
      ['daily', 'weekly'],
      ['daily', 'monthly'],
    ] as const)('%s rolls up into %s', (from, to) => {
      expect(rollupMismatch(from, to)).toBeUndefined();
    });

    it.each([
      ['hourly', 'hourly'],
      ['daily', 'hourly'],
      ['monthly', 'weekly'],
      ['weekly', 'daily'],
    ] as const)('%s into %s is refused: not finer', (from, to) => {
      expect(rollupMismatch(from, to)).toMatch(/must be finer than bucket/);
    });

    it('weekly into monthly is refused: weeks straddle months', () => {
      expect(rollupMismatch('weekly', 'monthly')).toMatch(/straddle/);
    });
  });

  describe('ceilToBucket', () => {
    it('keeps an aligned instant', () => {
      expect(ceilToBucket('daily', at('2026-03-01T00:00:00Z'))).toEqual(at('2026-03-01T00:00:00Z'));
      expect(ceilToBucket('weekly', at('2026-01-05T00:00:00Z'))).toEqual(at('2026-01-05T00:00:00Z'));
    });
    it('moves to the next bucket start otherwise (weeks on Monday, months on the 1st, leap years)', () => {
      expect(ceilToBucket('daily', at('2026-03-01T00:00:00.001Z'))).toEqual(at('2026-03-02T00:00:00Z'));
      // 2026-01-01 is a Thursday: the next week starts on Monday 5 January.
      expect(ceilToBucket('weekly', at('2026-01-01T00:00:00Z'))).toEqual(at('2026-01-05T00:00:00Z'));
      expect(ceilToBucket('monthly', at('2028-02-15T12:00:00Z'))).toEqual(at('2028-03-01T00:00:00Z'));
      expect(ceilToBucket('hourly', at('2026-12-31T23:30:00Z'))).toEqual(at('2027-01-01T00:00:00Z'));
    });
  });

  describe('rollupFineRange', () => {
    it('covers whole coarse buckets whose start is in the window', () => {
      const range = rollupFineRange('daily', { from: at('2026-01-01T06:00:00Z'), to: at('2026-01-03T06:00:00Z') });
      // 1 January starts before the window: out; 3 January starts in it: whole.
      expect(range).toEqual({ from: at('2026-01-02T00:00:00Z'), to: at('2026-01-04T00:00:00Z') });
    });
    it('an aligned window is taken as is (to exclusive)', () => {
      const window = { from: at('2026-01-01T00:00:00Z'), to: at('2026-03-01T00:00:00Z') };
      expect(rollupFineRange('monthly', window)).toEqual(window);
    });
    it('a window with no coarse start in it is empty', () => {
      const range = rollupFineRange('monthly', { from: at('2026-01-02T00:00:00Z'), to: at('2026-01-31T00:00:00Z') });
      expect(range.from).toEqual(range.to);
    });
  });

  describe('rollupPageFrom', () => {
    const range = { from: at('2026-01-05T00:00:00Z'), to: at('2026-03-02T00:00:00Z') };
    it('starts at the range without a cursor', () => {
      expect(rollupPageFrom('weekly', range, undefined)).toEqual(range.from);
    });
    it('continues at the end of the last coarse bucket served', () => {
      expect(rollupPageFrom('weekly', range, at('2026-01-12T00:00:00Z'))).toEqual(at('2026-01-19T00:00:00Z'));
      expect(rollupPageFrom('monthly', range, at('2026-01-01T00:00:00Z'))).toEqual(at('2026-02-01T00:00:00Z'));
    });
  });

  describe('checkWindow', () => {
    it('parses both instants', () => {
      expect(checkWindow('2026-01-01T01:00:00+01:00', '2026-01-02T00:00:00Z', parseInstant)).toEqual({
        window: { from: at('2026-01-01T00:00:00Z'), to: at('2026-01-02T00:00:00Z') },
      });
    });
    it('names each bad instant', () => {
      expect(checkWindow('yesterday', '2026-01-02', parseInstant)).toEqual({
        details: [
          { field: 'from_utc', message: expect.stringMatching(/^from_utc must be an ISO 8601/) },
          { field: 'to_utc', message: expect.stringMatching(/^to_utc must be an ISO 8601/) },
        ],
      });
    });
    it.each([
      ['2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z'],
      ['2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z'],
    ])('from %s, to %s: to_utc must be after from_utc', (from, to) => {
      expect(checkWindow(from, to, parseInstant)).toEqual({
        details: [{ field: 'to_utc', message: expect.stringMatching(/must be after from_utc/) }],
      });
    });
  });

  describe('SQL', () => {
    it('a series page is one range of the key index, tenant first, app as a filter', () => {
      const sql = seriesSql({ exclusiveFrom: true, appBound: true });
      expect(sql).toContain(
        'FROM kpi_snapshots WHERE orgcode = $1 AND kpi_code = $2 AND bucket = $3 AND scope = $4 ' +
          'AND bucket_start > $5 AND bucket_start < $6 AND app_id = $8 ORDER BY kpi_snapshots.bucket_start LIMIT $7',
      );
      // The API's shape straight from PostgreSQL: ISO times (ordered by the column, not by that text).
      expect(sql).toContain(
        `to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS bucket_start`,
      );
      expect(seriesSql({ exclusiveFrom: false, appBound: false })).toContain('bucket_start >= $5');
    });
    it.each([
      ['sum', 'sum(value)'],
      ['avg', 'avg(value)'],
      ['min', 'min(value)'],
      ['max', 'max(value)'],
      ['last', '(array_agg(value ORDER BY bucket_start DESC))[1]'],
    ] as const)('%s folds with %s, truncating in UTC', (fn, aggregate) => {
      const sql = rollupSql({ coarse: 'weekly', fn, appBound: false });
      expect(sql).toContain(`date_trunc('week', bucket_start, 'UTC') AS period_start, ${aggregate} AS value`);
      expect(sql).not.toContain('app_id');
    });
  });
});
