import {
  checkKpiRecord,
  DEFAULT_KPI_SCOPE,
  kpiKey,
  KPI_CODE_MESSAGE,
  KPI_SCOPE_MESSAGE,
  KPI_VALUE_MESSAGE,
} from './kpi-record';

const good = {
  kpi_code: 'CODE1',
  bucket: 'hourly',
  bucket_start: '2026-01-01T00:00:00Z',
  bucket_end: '2026-01-01T01:00:00Z',
  value: 0,
};

describe('checkKpiRecord', () => {
  it('a good snapshot: instants parsed, scope defaulted, end filled in when absent', () => {
    expect(checkKpiRecord(good)).toEqual({
      record: {
        kpi_code: 'CODE1',
        scope: DEFAULT_KPI_SCOPE,
        bucket: 'hourly',
        bucket_start: new Date('2026-01-01T00:00:00Z'),
        bucket_end: new Date('2026-01-01T01:00:00Z'),
        value: 0,
      },
    });
    const { bucket_end: _omitted, ...noEnd } = good;
    expect(checkKpiRecord({ ...noEnd, scope: 'region:eu-west', value: -1.5e300 })).toMatchObject({
      record: { scope: 'region:eu-west', bucket_end: new Date('2026-01-01T01:00:00Z'), value: -1.5e300 },
    });
  });

  it.each(['ipm.delivery.latency_p95_ms', 'delivery_success_rate', 'a', 'K-1:x', 'A'.repeat(100)])(
    'kpi_code %s is fine',
    (kpi_code) => {
      expect(checkKpiRecord({ ...good, kpi_code })).toHaveProperty('record');
    },
  );

  it.each([
    ['', KPI_CODE_MESSAGE],
    ['1abc', KPI_CODE_MESSAGE],
    ['has space', KPI_CODE_MESSAGE],
    ['é', KPI_CODE_MESSAGE],
    ['A'.repeat(101), KPI_CODE_MESSAGE],
    [42, 'kpi_code must be a string'],
    [undefined, 'kpi_code must be a string'],
  ])('kpi_code %j is refused', (kpi_code, message) => {
    expect(checkKpiRecord({ ...good, kpi_code })).toEqual({ details: [{ field: 'kpi_code', message }] });
  });

  it.each([Infinity, -Infinity, NaN, '1', null, undefined])('value %p is refused', (value) => {
    expect(checkKpiRecord({ ...good, value })).toEqual({ details: [{ field: 'value', message: KPI_VALUE_MESSAGE }] });
  });

  it.each(['', 'has space', '-lead', 'x'.repeat(129), 7, null])('scope %j is refused', (scope) => {
    expect(checkKpiRecord({ ...good, scope })).toEqual({ details: [{ field: 'scope', message: KPI_SCOPE_MESSAGE }] });
  });

  it('every bad field at once, each named', () => {
    const result = checkKpiRecord({
      kpi_code: '!',
      bucket: 'yearly',
      bucket_start: '2026-01-01',
      bucket_end: 12,
      value: 'x',
    });
    expect(result).toEqual({
      details: [
        { field: 'kpi_code', message: KPI_CODE_MESSAGE },
        { field: 'bucket', message: 'bucket must be one of hourly, daily, weekly, monthly' },
        { field: 'value', message: KPI_VALUE_MESSAGE },
        {
          field: 'bucket_start',
          message: 'bucket_start must be an ISO 8601 date-time with a time zone, e.g. 2026-01-01T00:00:00Z',
        },
        {
          field: 'bucket_end',
          message: 'bucket_end must be an ISO 8601 date-time with a time zone, e.g. 2026-01-01T00:00:00Z',
        },
      ],
    });
  });

  it('alignment: a misaligned start, or an end that is not its bucket’s, names the field', () => {
    expect(checkKpiRecord({ ...good, bucket: 'weekly' })).toEqual({
      details: [{ field: 'bucket_start', message: expect.stringContaining('(a Thursday in UTC)') }],
    });
    expect(checkKpiRecord({ ...good, bucket: 'daily' })).toEqual({
      details: [{ field: 'bucket_end', message: expect.stringContaining('ends at 2026-01-02T00:00:00.000Z') }],
    });
  });

  it('kpiKey: two spellings of one instant are one key; scope and bucket tell keys apart', () => {
    const a = checkKpiRecord(good);
    const b = checkKpiRecord({ ...good, bucket_start: '2026-01-01T01:00:00+01:00', bucket_end: undefined });
    const c = checkKpiRecord({ ...good, scope: 'app:x' });
    if (!('record' in a) || !('record' in b) || !('record' in c)) throw new Error('expected records');
    expect(kpiKey(a.record)).toBe(kpiKey(b.record));
    expect(kpiKey(a.record)).not.toBe(kpiKey(c.record));
  });
});
