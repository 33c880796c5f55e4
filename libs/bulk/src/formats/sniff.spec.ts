import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { SNIFF_BYTES, sniffFormat } from './sniff';

const ok = { ok: true };
const fails = (reason: string | RegExp) => ({ ok: false, reason: expect.stringMatching(reason) });
const b = (text: string) => Buffer.from(text, 'utf8');

describe('sniffFormat', () => {
  describe('whatever the declared format', () => {
    it.each(['ndjson', 'csv'] as const)('rejects binary garbage as %s', (declared) => {
      const garbage = randomBytes(4096);
      garbage[10] = 0; // random bytes nearly always hold a NUL; make sure
      expect(sniffFormat(garbage, declared)).toEqual(fails(/NUL bytes/));
    });

    it('rejects control characters without NULs', () => {
      const data = Buffer.alloc(1000, 'a');
      for (let i = 0; i < 1000; i += 20) data[i] = 0x01;
      expect(sniffFormat(data, 'csv')).toEqual(fails(/looks binary \(5\.0% control characters\)/));
    });

    it.each([
      [Buffer.alloc(0), /empty/],
      [b('\uFEFF'), /empty/],
      [gzipSync(b('{"a":1}\n')), /gzip/],
      [Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), b('rest')]), /ZIP archive/],
      [Buffer.from('\uFEFF{"a":1}\n', 'utf16le'), /UTF-16/],
      [Buffer.from('id,name\n1,caf\xe9\n', 'latin1'), /not valid UTF-8/],
    ])('rejects %#', (data, reason) => {
      expect(sniffFormat(data, 'ndjson')).toEqual(fails(reason));
      expect(sniffFormat(data, 'csv')).toEqual(fails(reason));
    });

    it('accepts a sample cut in the middle of a character', () => {
      const line = b('{"name":"漢字漢字漢字"}\n');
      const full = Buffer.concat(Array.from({ length: Math.ceil(SNIFF_BYTES / line.length) + 1 }, () => line));
      for (const extra of [0, 1, 2]) {
        const sample = full.subarray(0, SNIFF_BYTES - 1 + extra);
        if (sample.length >= SNIFF_BYTES) expect(sniffFormat(sample, 'ndjson')).toEqual(ok);
      }
      expect(sniffFormat(full, 'ndjson')).toEqual(ok); // longer than the window: looks at its start
    });
  });

  describe('ndjson', () => {
    it.each([
      '{"a":1}\n{"a":2}\n',
      '\uFEFF\r\n\r\n  {"a":1}\r\n',
      '{"a":1}', // one line, no newline
      '{"a":1}\n{bad\n', // bad lines are for the report, not a format failure
      '{"broken\n{"a":2}\n',
    ])('accepts %j', (text) => expect(sniffFormat(b(text), 'ndjson')).toEqual(ok));

    it.each([
      ['id,name\n1,x\n', /line 1 does not start with "\{"/],
      ['\n\nhello\n', /line 3 does not start with "\{"/],
      ['[{"a":1},{"a":2}]\n', /JSON array/],
      ['{\n  "a": 1\n}\n', /pretty-printed/],
      ['\n \n\t\n', /no data lines/],
      ['{bad\n{worse\n{"a"\n', /none of the first 3 lines is a valid JSON object/],
    ])('rejects %j', (text, reason) => expect(sniffFormat(b(text), 'ndjson')).toEqual(fails(reason)));

    it('does not hold a line cut by the sample window against the file', () => {
      const sample = Buffer.alloc(SNIFF_BYTES, 'x');
      b('{"a":').copy(sample);
      expect(sniffFormat(sample, 'ndjson')).toEqual(ok);
    });
  });

  describe('csv', () => {
    it.each(['id,name\n1,x\n', '\uFEFF"id","a,b"\r\n', '\n\nid\n1\n', 'single_column', '[id],[name]\n1,2\n'])(
      'accepts %j',
      (text) => expect(sniffFormat(b(text), 'csv')).toEqual(ok),
    );

    it.each([
      ['{"a":1,"b":2}\n', /looks like JSON/],
      ['[1,2]\n', /looks like JSON/],
      ['id,,name\n', /no usable CSV header: header column 2 has an empty name/],
      ['id,name,id\n', /duplicates the name "id"/],
      ['"id,name\n1,2\n', /no usable CSV header: unterminated quoted field/],
      ['\r\n\r\n', /no header row/],
    ])('rejects %j', (text, reason) => expect(sniffFormat(b(text), 'csv')).toEqual(fails(reason)));

    it('says so when the header does not end within the window', () => {
      const sample = Buffer.alloc(SNIFF_BYTES, 'x');
      sample[0] = 0x22; // an opening quote never closed
      expect(sniffFormat(sample, 'csv')).toEqual(fails(/within the first 64 KiB/));
    });
  });
});
