import { newEventRow } from '../../../test/support/events';
import { encodeBatch, matchOutcomes } from './event-store.service';

const row = newEventRow;

describe('encodeBatch', () => {
  it('is one JSON array of row arrays, in input order, in the column order the SQL reads', () => {
    const { json, sent } = encodeBatch([
      row('a', 'acme', {
        app_id: 'app',
        logical_guid: 'R-1',
        channel_code: 'web',
        source: 'platform',
        occurred_at: new Date('2026-01-02T03:04:05.000Z'),
        payload: { quote: '"', nested: { x: [1] } },
      }),
      row('b'),
    ]);
    expect(sent).toEqual([true, true]);
    expect(JSON.parse(json)).toEqual([
      [
        'a',
        'acme',
        'app',
        'rfp.cancelled',
        'rfp',
        'cancelled',
        { quote: '"', nested: { x: [1] } },
        'R-1',
        'web',
        'platform',
        'user_1',
        '2026-01-02T03:04:05.000Z',
      ],
      ['b', 'acme', null, 'rfp.cancelled', 'rfp', 'cancelled', { rfp_id: 'b' }, null, null, 'api', 'user_1', null],
    ]);
  });

  it('splices a payload_source in unparsed as a 13th element, with the payload left null', () => {
    const line = '{"event_type": "rfp.cancelled", "payload": {"rfp_id": "c", "note": "a \\"quote\\""}}';
    const { json } = encodeBatch([row('c', 'acme', { payload_source: line })]);
    expect(json).toContain(line);
    const [encoded] = JSON.parse(json) as unknown[][];
    expect(encoded).toHaveLength(13);
    expect(encoded[6]).toBeNull();
    expect(encoded[12]).toEqual({ event_type: 'rfp.cancelled', payload: { rfp_id: 'c', note: 'a "quote"' } });
  });

  it('leaves out repeats of (orgcode, event_id) within the batch', () => {
    const { json, sent } = encodeBatch([row('a'), row('a'), row('a', 'other'), row('b'), row('a')]);
    expect(sent).toEqual([true, false, true, true, false]);
    expect((JSON.parse(json) as unknown[][]).map((r) => `${String(r[1])}/${String(r[0])}`)).toEqual([
      'acme/a',
      'other/a',
      'acme/b',
    ]);
  });
});

describe('matchOutcomes', () => {
  it('maps the returned rows back to the input: stored with its sequence, else duplicate', () => {
    const rows = [row('a'), row('b'), row('a'), row('c', 'other')];
    const { sent } = encodeBatch(rows);
    const result = matchOutcomes(rows, sent, [
      { seq: '10', orgcode: 'acme', event_id: 'a' },
      { seq: '11', orgcode: 'other', event_id: 'c' },
    ]);
    expect(result).toEqual({
      outcomes: [
        { status: 'stored', sequence: '10' },
        { status: 'duplicate' },
        { status: 'duplicate' },
        { status: 'stored', sequence: '11' },
      ],
      stored: 2,
      duplicates: 2,
    });
  });
});
