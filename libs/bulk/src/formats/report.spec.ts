import { cutText, RAW_REPORT_CHARS, reportLine } from './report';

const parsed = (line: string) => JSON.parse(line) as Record<string, unknown>;

describe('reportLine', () => {
  it('writes one NDJSON line', () => {
    const line = reportLine({ line: 3, error: 'expected 3 columns, got 2', raw: 'a,"b\nc"' });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(parsed(line)).toEqual({ line: 3, error: 'expected 3 columns, got 2', raw: 'a,"b\nc"' });
  });

  it('keeps a raw of exactly 1,000 characters whole', () => {
    const raw = 'x'.repeat(RAW_REPORT_CHARS);
    expect(parsed(reportLine({ line: 1, error: 'e', raw }))).toEqual({ line: 1, error: 'e', raw });
  });

  it('cuts a long raw, marks it and gives the original size', () => {
    const raw = 'é'.repeat(1500);
    expect(parsed(reportLine({ line: 9, error: 'e', raw }))).toEqual({
      line: 9,
      error: 'e',
      raw: 'é'.repeat(1000) + '…',
      raw_bytes: 3000,
    });
  });

  it('marks a raw the parser already cut', () => {
    const raw = 'x'.repeat(1000);
    expect(parsed(reportLine({ line: 2, error: 'line too long (5000 bytes)', raw, rawBytes: 5000 }))).toEqual({
      line: 2,
      error: 'line too long (5000 bytes)',
      raw: raw + '…',
      raw_bytes: 5000,
    });
  });

  it('does not mark a raw that is whole', () => {
    expect(parsed(reportLine({ line: 2, error: 'e', raw: 'é', rawBytes: 2 }))).toEqual({
      line: 2,
      error: 'e',
      raw: 'é',
    });
  });
});

describe('cutText', () => {
  it('does not split a surrogate pair', () => {
    expect(cutText('ab😀', 3)).toBe('ab');
    expect(cutText('ab😀', 4)).toBe('ab😀');
    expect(cutText('abc', 5)).toBe('abc');
  });
});
