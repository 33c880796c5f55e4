import { toCdcEvent } from '@ipm/events/cdc.service';
import type { EventEntity } from '@ipm/events/entities/event.entity';
import { eventLine, type ExportedEventRow } from './event-export';

describe('eventLine', () => {
  const row: EventEntity = {
    seq: '90071992547409931',
    tx_id: '4294967301',
    event_id: 'evt "quoted"\n\u2028 – ü',
    orgcode: 'acme',
    app_id: null,
    event_type: 'rfp.created',
    service: 'rfp',
    action: 'created',
    payload: { rfp_id: 'R-1', nested: { list: [1, 2.5, null, true], text: 'a\tb "c" \\ ü' } },
    logical_guid: 'guid-1',
    channel_code: null,
    source: 'api',
    actor: 'user_1',
    occurred_at: new Date('2026-01-02T03:04:05.678Z'),
    received_at: new Date('2026-01-02T03:04:06.001Z'),
  };
  // PostgreSQL's jsonb text: spaces after separators, keys reordered; still the same JSON value.
  const exported: ExportedEventRow = {
    ...row,
    payload: '{"rfp_id": "R-1", "nested": {"list": [1, 2.5, null, true], "text": "a\\tb \\"c\\" \\\\ ü"}}',
  };

  it('is a /cdc/list item: the same fields, in the same order, with the same values', () => {
    const parsed = JSON.parse(eventLine(exported)) as Record<string, unknown>;
    const item = JSON.parse(JSON.stringify(toCdcEvent(row))) as Record<string, unknown>;
    expect(parsed).toEqual(item);
    expect(Object.keys(parsed)).toEqual(Object.keys(item));
  });

  it('is one line, whatever the strings hold', () => {
    expect(eventLine(exported)).not.toMatch(/[\n\r]/);
  });
});
