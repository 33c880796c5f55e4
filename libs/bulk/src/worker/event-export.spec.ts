import { EVENT_EXPORT_COLUMNS, EVENT_LINE_SQL } from './event-export';

describe('EVENT_LINE_SQL', () => {
  it('writes every CSV column, in the CSV order (the integration test checks the values)', () => {
    const keys = [...EVENT_LINE_SQL.matchAll(/"([a-z_]+)":/g)].map((m) => m[1]);
    expect(keys).toEqual([...EVENT_EXPORT_COLUMNS]);
  });
});
