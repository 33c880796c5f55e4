import { KPI_CSV, toKpiLine } from './kpi-import';

const snapshot = { kpi_code: 'CODE1', bucket: 'hourly', bucket_start: '2026-01-01T00:00:00Z', value: 1 };

describe('toKpiLine', () => {
  it('takes a /kpi/record body', () => {
    const refs = [{ kind: 'ticket', id: 'OPS-1' }];
    expect(
      toKpiLine(
        {
          kpi: snapshot,
          expected_revision: '2',
          reason: 'fix',
          source_refs: refs,
          request_context: { orgcode: 'acme', actor: 'jane', context_source: 'session' },
        },
        'acme',
      ),
    ).toEqual({
      line: {
        kpi: snapshot,
        expected_revision: '2',
        reason: 'fix',
        source_refs: refs,
        request_context: { orgcode: 'acme', actor: 'jane', context_source: 'session' },
      },
    });
  });

  it('takes the snapshot fields at the top level (the CSV shape)', () => {
    expect(toKpiLine({ ...snapshot, scope: 'org', expected_revision: 3 }, 'acme')).toEqual({
      line: { kpi: { ...snapshot, scope: 'org' }, expected_revision: 3 },
    });
  });

  it('leaves the snapshot’s own checks to the upsert', () => {
    expect(toKpiLine({ kpi: { ...snapshot, value: 'x' } }, 'acme')).toEqual({
      line: { kpi: { ...snapshot, value: 'x' } },
    });
  });

  it.each([
    [{}, 'kpi must be an object (or give kpi_code, bucket, bucket_start and value)'],
    [{ kpi: [] }, 'kpi must be an object'],
    [{ kpi: snapshot, value: 1 }, 'give the snapshot as kpi or as top-level fields, not both (value)'],
    [{ kpi: { ...snapshot, unit: 'ms' } }, 'property kpi.unit should not exist'],
    [{ ...snapshot, extra: 1 }, 'property extra should not exist'],
    [{ ...snapshot, expected_revision: 'one' }, 'expected_revision must be a positive integer as a string'],
    [{ ...snapshot, expected_revision: 0 }, 'expected_revision must be a positive integer as a string'],
    [{ ...snapshot, expected_revision: 1.5 }, 'expected_revision must be a positive integer as a string'],
    [{ ...snapshot, reason: 'x'.repeat(1001) }, 'reason must be a string of at most 1000 characters'],
    [
      { ...snapshot, source_refs: [{ kind: 'ticket' }] },
      'source_refs must be at most 20 objects { kind (1-64 characters), id (1-200 characters) }',
    ],
    [{ ...snapshot, request_context: 'acme' }, 'request_context must be an object'],
    [{ ...snapshot, request_context: { orgcode: 'other' } }, "request_context.orgcode must equal the job's orgcode"],
    [
      { ...snapshot, request_context: { context_source: 'cron', who: 1 } },
      'property request_context.who should not exist; request_context.context_source must be one of session, api_key, system, import',
    ],
  ])('%j is refused: %s', (value, error) => {
    expect(toKpiLine(value, 'acme')).toEqual({ error });
  });
});

describe('KPI_CSV', () => {
  it('numbers as numbers, JSON columns parsed, empty cells absent, the rest as text', () => {
    expect(
      KPI_CSV.toValue({
        kpi_code: 'CODE1',
        scope: '',
        bucket: 'daily',
        bucket_start: '2026-01-01T00:00:00Z',
        bucket_end: '',
        value: '-1.25e2',
        expected_revision: '4',
        source_refs: '[{"kind":"t","id":"1"}]',
      }),
    ).toEqual({
      value: {
        kpi_code: 'CODE1',
        bucket: 'daily',
        bucket_start: '2026-01-01T00:00:00Z',
        value: -125,
        expected_revision: '4',
        source_refs: [{ kind: 't', id: '1' }],
      },
    });
  });

  it('a value that is not a number stays text, for the upsert to refuse', () => {
    expect(KPI_CSV.toValue({ value: '0x10' })).toEqual({ value: { value: '0x10' } });
    expect(KPI_CSV.toValue({ value: 'Infinity' })).toEqual({ value: { value: 'Infinity' } });
  });

  it('names each JSON cell that does not parse', () => {
    const mapped = KPI_CSV.toValue({ kpi: '{oops', request_context: '[' });
    expect(mapped).toEqual({
      error: expect.stringMatching(/^kpi: malformed JSON: .*; request_context: malformed JSON: /),
    });
  });
});
