import { bucketEndOf, bucketStartOf, checkBucketWindow, type KpiBucket, misalignment, parseInstant } from './buckets';

const d = (iso: string): Date => new Date(iso);
const iso = (date: Date): string => date.toISOString();

describe('parseInstant', () => {
  it.each([
    ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T00:00:00.5z', '2026-01-01T00:00:00.500Z'],
    ['2026-01-01T01:00:00+01:00', '2026-01-01T00:00:00.000Z'],
    ['2025-12-31T19:00:00-0500', '2026-01-01T00:00:00.000Z'],
    ['2028-02-29T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    ['2000-02-29T12:00:00Z', '2000-02-29T12:00:00.000Z'],
  ])('%s is %s', (text, expected) => {
    expect(parseInstant(text)?.toISOString()).toBe(expected);
  });

  it.each([
    ['no zone', '2026-01-01T00:00:00'],
    ['date only', '2026-01-01'],
    ['no seconds', '2026-01-01T00:00Z'],
    ['30 February', '2026-02-30T00:00:00Z'],
    ['29 February of a common year', '2026-02-29T00:00:00Z'],
    ['29 February 1900 (not a leap year)', '1900-02-29T00:00:00Z'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['hour 24', '2026-01-01T24:00:00Z'],
    ['leap second', '2026-12-31T23:59:60Z'],
    ['offset hour 24', '2026-01-01T00:00:00+24:00'],
    ['sub-millisecond fraction', '2026-01-01T00:00:00.0001Z'],
    ['a year below 1000', '0999-01-01T00:00:00Z'],
    ['five-digit year', '+12026-01-01T00:00:00Z'],
    ['words', 'yesterday'],
    ['empty', ''],
  ])('refuses %s', (_why, text) => {
    expect(parseInstant(text)).toBeUndefined();
  });
});

describe('bucket alignment (UTC)', () => {
  describe('hourly', () => {
    it('starts on the hour and lasts one hour, across a day and a year end', () => {
      expect(iso(bucketEndOf('hourly', d('2026-03-01T10:00:00Z')))).toBe('2026-03-01T11:00:00.000Z');
      expect(iso(bucketEndOf('hourly', d('2026-12-31T23:00:00Z')))).toBe('2027-01-01T00:00:00.000Z');
      expect(misalignment('hourly', d('2026-03-01T10:00:00Z'))).toBeUndefined();
    });

    it.each(['2026-03-01T10:30:00Z', '2026-03-01T10:00:01Z', '2026-03-01T10:00:00.001Z'])(
      '%s is not aligned',
      (start) => {
        expect(misalignment('hourly', d(start))).toBe(
          `bucket_start ${iso(d(start))} is not the start of an hourly bucket: hourly buckets start on the hour ` +
            '(mm:ss.sss = 00:00.000) in UTC; the hourly bucket containing it starts at 2026-03-01T10:00:00.000Z',
        );
      },
    );

    it('an offset that is not whole hours misaligns an hour written in local time', () => {
      const start = parseInstant('2026-03-01T10:00:00+05:30') as Date;
      expect(iso(start)).toBe('2026-03-01T04:30:00.000Z');
      expect(misalignment('hourly', start)).toContain('starts at 2026-03-01T04:00:00.000Z');
    });
  });

  describe('daily', () => {
    it('starts at midnight UTC, whatever offset wrote it', () => {
      expect(misalignment('daily', parseInstant('2026-03-01T01:00:00+01:00') as Date)).toBeUndefined();
      expect(iso(bucketEndOf('daily', d('2026-03-01T00:00:00Z')))).toBe('2026-03-02T00:00:00.000Z');
      expect(iso(bucketEndOf('daily', d('2026-12-31T00:00:00Z')))).toBe('2027-01-01T00:00:00.000Z');
    });

    it('midnight in another zone is not midnight UTC', () => {
      expect(misalignment('daily', parseInstant('2026-03-01T00:00:00+01:00') as Date)).toBe(
        'bucket_start 2026-02-28T23:00:00.000Z is not the start of a daily bucket: daily buckets start at ' +
          '00:00:00.000 UTC; the daily bucket containing it starts at 2026-02-28T00:00:00.000Z',
      );
    });

    it('the leap day is a day of its own: 2028-02-29 to 2028-03-01', () => {
      expect(misalignment('daily', d('2028-02-29T00:00:00Z'))).toBeUndefined();
      expect(iso(bucketEndOf('daily', d('2028-02-28T00:00:00Z')))).toBe('2028-02-29T00:00:00.000Z');
      expect(iso(bucketEndOf('daily', d('2028-02-29T00:00:00Z')))).toBe('2028-03-01T00:00:00.000Z');
      expect(misalignment('daily', d('2028-02-29T12:00:00Z'))).toContain('starts at 2028-02-29T00:00:00.000Z');
    });
  });

  describe('weekly (weeks start on Monday)', () => {
    it('a Monday midnight starts a week of 7 days, also across month and year ends', () => {
      expect(misalignment('weekly', d('2026-01-05T00:00:00Z'))).toBeUndefined(); // Monday
      expect(iso(bucketEndOf('weekly', d('2026-01-05T00:00:00Z')))).toBe('2026-01-12T00:00:00.000Z');
      // 2025-12-29 is a Monday: its week straddles the new year.
      expect(misalignment('weekly', d('2025-12-29T00:00:00Z'))).toBeUndefined();
      expect(iso(bucketEndOf('weekly', d('2025-12-29T00:00:00Z')))).toBe('2026-01-05T00:00:00.000Z');
      expect(iso(bucketEndOf('weekly', d('2026-03-30T00:00:00Z')))).toBe('2026-04-06T00:00:00.000Z');
    });

    it.each([
      ['2026-01-04T00:00:00Z', 'Sunday', '2025-12-29T00:00:00.000Z'],
      ['2026-01-06T00:00:00Z', 'Tuesday', '2026-01-05T00:00:00.000Z'],
      ['2026-01-01T00:00:00Z', 'Thursday', '2025-12-29T00:00:00.000Z'],
      ['2026-01-10T00:00:00Z', 'Saturday', '2026-01-05T00:00:00.000Z'],
    ])('%s (a %s) is not aligned; its week starts %s', (start, weekday, monday) => {
      expect(misalignment('weekly', d(start))).toBe(
        `bucket_start ${iso(d(start))} (a ${weekday} in UTC) is not the start of a weekly bucket: weekly buckets ` +
          `start on Monday at 00:00:00.000 UTC; the weekly bucket containing it starts at ${monday}`,
      );
    });

    it('a Monday that is not at midnight is not aligned', () => {
      expect(misalignment('weekly', d('2026-01-05T01:00:00Z'))).toContain('starts at 2026-01-05T00:00:00.000Z');
    });

    it('the week of the leap day: Monday 2028-02-28 to Monday 2028-03-06', () => {
      expect(misalignment('weekly', d('2028-02-28T00:00:00Z'))).toBeUndefined();
      expect(iso(bucketEndOf('weekly', d('2028-02-28T00:00:00Z')))).toBe('2028-03-06T00:00:00.000Z');
      expect(misalignment('weekly', d('2028-02-29T00:00:00Z'))).toContain(
        '(a Tuesday in UTC) is not the start of a weekly bucket',
      );
      expect(iso(bucketStartOf('weekly', d('2028-02-29T00:00:00Z')))).toBe('2028-02-28T00:00:00.000Z');
    });
  });

  describe('monthly', () => {
    it('starts on the 1st at midnight and ends on the next 1st, whatever the month length', () => {
      expect(iso(bucketEndOf('monthly', d('2026-01-01T00:00:00Z')))).toBe('2026-02-01T00:00:00.000Z');
      expect(iso(bucketEndOf('monthly', d('2026-02-01T00:00:00Z')))).toBe('2026-03-01T00:00:00.000Z');
      expect(iso(bucketEndOf('monthly', d('2026-04-01T00:00:00Z')))).toBe('2026-05-01T00:00:00.000Z');
      expect(iso(bucketEndOf('monthly', d('2026-12-01T00:00:00Z')))).toBe('2027-01-01T00:00:00.000Z');
    });

    it('February of a leap year ends on 1 March, after the 29th', () => {
      expect(iso(bucketEndOf('monthly', d('2028-02-01T00:00:00Z')))).toBe('2028-03-01T00:00:00.000Z');
      expect(checkBucketWindow('monthly', d('2028-02-01T00:00:00Z'), d('2028-02-29T00:00:00Z'))).toEqual({
        ok: false,
        field: 'bucket_end',
        message:
          'bucket_end 2028-02-29T00:00:00.000Z does not match bucket_start: the monthly bucket starting at ' +
          '2028-02-01T00:00:00.000Z ends at 2028-03-01T00:00:00.000Z',
      });
      expect(misalignment('monthly', d('2028-02-29T00:00:00Z'))).toBe(
        'bucket_start 2028-02-29T00:00:00.000Z is not the start of a monthly bucket: monthly buckets start on ' +
          'the 1st of the month at 00:00:00.000 UTC; the monthly bucket containing it starts at 2028-02-01T00:00:00.000Z',
      );
    });

    it.each([
      ['the last day of a month', '2026-01-31T00:00:00Z', '2026-01-01T00:00:00.000Z'],
      ['the 1st but not at midnight', '2026-03-01T00:00:01Z', '2026-03-01T00:00:00.000Z'],
      ['the 1st at midnight in another zone', '2026-03-01T00:00:00+01:00', '2026-02-01T00:00:00.000Z'],
    ])('%s is not aligned', (_why, start, first) => {
      expect(misalignment('monthly', parseInstant(start) as Date)).toContain(`starts at ${first}`);
    });
  });

  it('instants before 1970 align too', () => {
    expect(iso(bucketStartOf('hourly', d('1969-12-31T23:30:00Z')))).toBe('1969-12-31T23:00:00.000Z');
    expect(iso(bucketStartOf('weekly', d('1969-12-31T23:30:00Z')))).toBe('1969-12-29T00:00:00.000Z');
  });
});

describe('checkBucketWindow', () => {
  const cases: Array<[KpiBucket, string, string]> = [
    ['hourly', '2026-01-01T00:00:00Z', '2026-01-01T01:00:00.000Z'],
    ['daily', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00.000Z'],
    ['weekly', '2025-12-29T00:00:00Z', '2026-01-05T00:00:00.000Z'],
    ['monthly', '2026-01-01T00:00:00Z', '2026-02-01T00:00:00.000Z'],
  ];

  it.each(cases)('%s from %s: the end is %s, given or not', (bucket, start, end) => {
    expect(checkBucketWindow(bucket, d(start))).toEqual({ ok: true, bucket_end: d(end) });
    expect(checkBucketWindow(bucket, d(start), d(end))).toEqual({ ok: true, bucket_end: d(end) });
  });

  it.each(cases)('%s from %s: any other end is refused, naming bucket_end', (bucket, start, end) => {
    const wrong = new Date(d(end).getTime() - 1000);
    expect(checkBucketWindow(bucket, d(start), wrong)).toEqual({
      ok: false,
      field: 'bucket_end',
      message: `bucket_end ${iso(wrong)} does not match bucket_start: the ${bucket} bucket starting at ${iso(d(start))} ends at ${end}`,
    });
  });

  it('a misaligned start is reported before the end', () => {
    expect(checkBucketWindow('daily', d('2026-01-01T06:00:00Z'), d('2026-01-01T00:00:00Z'))).toMatchObject({
      ok: false,
      field: 'bucket_start',
    });
  });
});
