/**
 * KPI buckets: every snapshot covers one whole bucket of UTC time, [bucket_start, bucket_end).
 * Hours start at :00, days at 00:00, weeks on Monday 00:00 (ISO 8601), months on the 1st at 00:00,
 * all in UTC whatever offset the caller wrote the instant with.
 */
export const KPI_BUCKETS = ['hourly', 'daily', 'weekly', 'monthly'] as const;
export type KpiBucket = (typeof KPI_BUCKETS)[number];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;

/** What a bucket's start must look like, for error messages. */
const RULES: Readonly<Record<KpiBucket, string>> = {
  hourly: 'hourly buckets start on the hour (mm:ss.sss = 00:00.000) in UTC',
  daily: 'daily buckets start at 00:00:00.000 UTC',
  weekly: 'weekly buckets start on Monday at 00:00:00.000 UTC',
  monthly: 'monthly buckets start on the 1st of the month at 00:00:00.000 UTC',
};

export function isKpiBucket(value: unknown): value is KpiBucket {
  return typeof value === 'string' && (KPI_BUCKETS as readonly string[]).includes(value);
}

/** The start of the bucket that contains `t`. */
export function bucketStartOf(bucket: KpiBucket, t: Date): Date {
  const ms = t.getTime();
  switch (bucket) {
    case 'hourly':
      return new Date(ms - mod(ms, HOUR_MS));
    case 'daily':
      return new Date(ms - mod(ms, DAY_MS));
    case 'weekly': {
      const day = ms - mod(ms, DAY_MS);
      const sinceMonday = (new Date(day).getUTCDay() + 6) % 7;
      return new Date(day - sinceMonday * DAY_MS);
    }
    case 'monthly':
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
  }
}

/** The (exclusive) end of the bucket that starts at `start`; `start` must be aligned. */
export function bucketEndOf(bucket: KpiBucket, start: Date): Date {
  const ms = start.getTime();
  switch (bucket) {
    case 'hourly':
      return new Date(ms + HOUR_MS);
    case 'daily':
      return new Date(ms + DAY_MS);
    case 'weekly':
      return new Date(ms + 7 * DAY_MS);
    case 'monthly':
      return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  }
}

/** Why `start` is not the start of a `bucket`, or undefined when it is. */
export function misalignment(bucket: KpiBucket, start: Date): string | undefined {
  const aligned = bucketStartOf(bucket, start);
  if (aligned.getTime() === start.getTime()) return undefined;
  const weekday = bucket === 'weekly' ? ` (a ${WEEKDAYS[start.getUTCDay()]} in UTC)` : '';
  return (
    `bucket_start ${start.toISOString()}${weekday} is not the start of ${bucket === 'hourly' ? 'an' : 'a'} ${bucket} bucket: ${RULES[bucket]}; ` +
    `the ${bucket} bucket containing it starts at ${aligned.toISOString()}`
  );
}

export type BucketCheck =
  { ok: true; bucket_end: Date } | { ok: false; field: 'bucket_start' | 'bucket_end'; message: string };

/**
 * Checks a snapshot's window: `start` aligned to `bucket`, and `end` (when given) the end of that
 * bucket. Gives the bucket's end, or the field at fault and why.
 */
export function checkBucketWindow(bucket: KpiBucket, start: Date, end?: Date): BucketCheck {
  const why = misalignment(bucket, start);
  if (why !== undefined) return { ok: false, field: 'bucket_start', message: why };
  const expected = bucketEndOf(bucket, start);
  if (end !== undefined && end.getTime() !== expected.getTime()) {
    return {
      ok: false,
      field: 'bucket_end',
      message:
        `bucket_end ${end.toISOString()} does not match bucket_start: the ${bucket} bucket starting at ` +
        `${start.toISOString()} ends at ${expected.toISOString()}`,
    };
  }
  return { ok: true, bucket_end: expected };
}

/** `a mod m`, non-negative also for instants before 1970. */
function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

const INSTANT_RE = /^([1-9]\d{3})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-](\d{2}):?(\d{2}))$/i;

/**
 * An ISO 8601 instant with date, time (to the second) and zone (`Z` or ±hh:mm), e.g.
 * `2026-01-01T00:00:00Z`; a calendar-valid one (no 30 February) in years 1000-9999. Milliseconds at
 * most: a finer fraction must be zeros. Undefined when `text` is not one.
 */
export function parseInstant(text: string): Date | undefined {
  const m = INSTANT_RE.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const fraction = m[7] ?? '';
  if (/[1-9]/.test(fraction.slice(3))) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (m[8].toUpperCase() !== 'Z') {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[8].startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Number(fraction.slice(0, 3).padEnd(3, '0'));
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000);
}

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}
