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

describe('reportLine masks credentials', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const key = `ipm_${'a1B2c3D4e5'.repeat(4)}`;
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl';

  it('in raw and in error, whatever line refused them', () => {
    const raw = `{"secret": "${secret}", "note": "${key}", "auth": "Bearer ${jwt}", `;
    const out = reportLine({ line: 4, error: `malformed JSON near "${secret}"`, raw });
    for (const s of [secret.slice(6), key, jwt, jwt.split('.')[2]]) expect(out).not.toContain(s);
    expect(parsed(out)).toMatchObject({ line: 4, raw: expect.stringContaining('[REDACTED]') });
    expect(parsed(out).error).toBe('malformed JSON near "whsec_[REDACTED]"');
    expect(parsed(out)).not.toHaveProperty('raw_bytes');
  });

  it('an API key cut short by the 1,000-character limit', () => {
    const raw = `${'x'.repeat(978)} "${key}`.slice(0, 1000);
    const out = parsed(reportLine({ line: 1, error: 'line too long (5000 bytes)', raw, rawBytes: 5000 }));
    expect(out.raw).not.toContain(key.slice(0, 20));
    expect(out).toMatchObject({ raw: expect.stringMatching(/ipm_\[REDACTED\]…$/), raw_bytes: 5000 });
  });
});

describe('cutText', () => {
  it('does not split a surrogate pair', () => {
    expect(cutText('ab😀', 3)).toBe('ab');
    expect(cutText('ab😀', 4)).toBe('ab😀');
    expect(cutText('abc', 5)).toBe('abc');
  });
});
