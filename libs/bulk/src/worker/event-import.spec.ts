import { EVENT_CSV, toPublishItem } from './event-import';

describe('toPublishItem', () => {
  const base = { event_type: 'rfp.cancelled', payload: { rfp_id: 'R-1' } };

  it('accepts a publish item and keeps only the fields given', () => {
    expect(toPublishItem(base)).toEqual({ item: base });
    const full = {
      ...base,
      event_id: 'erp-1',
      occurred_at: '2026-01-02T03:04:05+02:00',
      logical_guid: 'RFP-1',
      channel_code: 'pos',
    };
    expect(toPublishItem(full)).toEqual({ item: full });
    expect(toPublishItem({ ...base, event_id: null })).toEqual({ item: base });
  });

  it.each([
    [{ payload: {} }, 'event_type must be a string'],
    [{ ...base, event_type: '' }, 'event_type must be longer than or equal to 1'],
    [{ ...base, payload: [1] }, 'payload must be an object'],
    [{ ...base, payload: null }, 'payload must be an object'],
    [{ ...base, event_id: 'has space' }, 'event_id must be 1-100 of A-Z a-z 0-9 _ . : -'],
    [{ ...base, event_id: 7 }, 'event_id must be a string'],
    [{ ...base, channel_code: 'x'.repeat(101) }, 'channel_code must be 1-100'],
    [{ ...base, logical_guid: 'a\u0001b' }, 'logical_guid must be 1-200 characters'],
    [{ ...base, occurred_at: 'yesterday' }, 'occurred_at must be a valid ISO 8601 date string'],
    [{ ...base, occurred_at: '2026-01-02T03:04:05' }, 'occurred_at must carry a time zone'],
    [{ ...base, seq: 1 }, 'property seq should not exist'],
  ])('refuses %j', (value, message) => {
    const result = toPublishItem(value);
    expect('error' in result && result.error).toContain(message);
  });

  it('lists every problem of a line', () => {
    expect(toPublishItem({ event_type: 1, payload: 'x', extra: true })).toEqual({
      error: 'property extra should not exist; event_type must be a string; payload must be an object',
    });
  });
});

describe('EVENT_CSV', () => {
  const fields = (f: Record<string, string>) => Object.assign(Object.create(null) as Record<string, string>, f);

  it('parses the payload column and drops empty optional columns', () => {
    expect(
      EVENT_CSV.toValue(
        fields({ event_type: 'rfp.cancelled', payload: '{"rfp_id":"R"}', event_id: '', channel_code: 'pos' }),
      ),
    ).toEqual({ value: { event_type: 'rfp.cancelled', payload: { rfp_id: 'R' }, channel_code: 'pos' } });
  });

  it('reports a payload that is not JSON', () => {
    const result = EVENT_CSV.toValue(fields({ event_type: 'rfp.cancelled', payload: '{oops' }));
    expect('error' in result && result.error).toMatch(/^payload is not valid JSON: /);
  });
});
