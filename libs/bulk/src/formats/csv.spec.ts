import { BulkFormatError } from './errors';
import { checkCsvHeader, type CsvRecord, parseCsv } from './csv';
import { chunked, collect, CHUNK_SIZES } from './spec-helpers';

const parse = (data: string | Buffer, size = Infinity, maxLineBytes = 1024, maxFieldCount?: number) =>
  collect(parseCsv(chunked(data, size), { maxLineBytes, maxFieldCount }));

const summary = (records: CsvRecord[]) => records.map((r) => [r.line, r.error ?? { ...r.fields }]);

describe('parseCsv', () => {
  const file =
    '\uFEFF id , name ,note\r\n' + // 1: header, names trimmed
    '1,plain,simple\r\n' + // 2
    '2,"with ""quotes""","a, b"\r\n' + // 3
    '3,"multi\r\nline\nvalue",x\r\n' + // 4-6: one record over three lines
    '\r\n' + // 7: blank, skipped
    '4,short\r\n' + // 8: wrong column count
    '5,"",\r\n' + // 9: empty fields
    '6,é😀,"ok"\r\n' + // 10
    '7,"open,never closed\r\n' + // 11-12: unterminated at EOF
    'tail';

  it.each(CHUNK_SIZES)(
    'parses quoted fields, spans lines and keeps line numbers right (chunks of %s)',
    async (size) => {
      expect(summary(await parse(file, size))).toEqual([
        [2, { id: '1', name: 'plain', note: 'simple' }],
        [3, { id: '2', name: 'with "quotes"', note: 'a, b' }],
        [4, { id: '3', name: 'multi\r\nline\nvalue', note: 'x' }],
        [8, 'expected 3 columns, got 2'],
        [9, { id: '5', name: '', note: '' }],
        [10, { id: '6', name: 'é😀', note: 'ok' }],
        [11, 'unterminated quoted field at end of file'],
      ]);
    },
  );

  it('keeps the raw text of a multi-line record and of error records', async () => {
    const records = await parse(file);
    expect(records[2]).toMatchObject({ raw: '3,"multi\r\nline\nvalue",x', rawBytes: 23 });
    expect(records[3]).toMatchObject({ raw: '4,short', rawBytes: 7 });
    expect(records[6]).toMatchObject({ raw: '7,"open,never closed\r\ntail', rawBytes: 26 });
  });

  it('parses LF files and a last record without newline', async () => {
    expect(summary(await parse('a,b\n1,2\n3,4', 1))).toEqual([
      [2, { a: '1', b: '2' }],
      [3, { a: '3', b: '4' }],
    ]);
  });

  it('treats a quote inside an unquoted field as data', async () => {
    expect(summary(await parse('a,b\n1,5" disk\n'))).toEqual([[2, { a: '1', b: '5" disk' }]]);
  });

  it('reports text after a closing quote and goes on', async () => {
    expect(summary(await parse('a,b\n"x"y,1\n2,3\n'))).toEqual([
      [2, 'unexpected character after closing quote (line 2, column 4)'],
      [3, { a: '2', b: '3' }],
    ]);
  });

  it('makes an over-long line an error record and goes on', async () => {
    expect(summary(await parse(`a,b\n1,${'x'.repeat(100)}\n2,3\n`, 7, 32))).toEqual([
      [2, 'line too long (102 bytes)'],
      [3, { a: '2', b: '3' }],
    ]);
  });

  it('gives up on a quoted record that grows past the limit, then resumes', async () => {
    const lines = Array.from({ length: 10 }, () => 'y'.repeat(20)).join('\n');
    const records = await parse(`a,b\n1,"${lines}\n`, 5, 64);
    expect(records[0]).toMatchObject({ line: 2, error: 'record longer than 64 bytes (unterminated quote?)' });
    expect(records.length).toBeGreaterThan(1); // the rest is read as new records, not swallowed
  });

  it('enforces maxFieldCount on rows and on the header', async () => {
    expect(summary(await parse('a,b\n1,2,3,4\n', Infinity, 1024, 3))).toEqual([
      [2, '4 fields, more than the limit of 3'],
    ]);
    await expect(parse('a,b,c,d\n', Infinity, 1024, 3)).rejects.toThrow(
      'invalid CSV header (line 1): header has 4 columns, more than the limit of 3',
    );
  });

  it('takes any column name safely, __proto__ included', async () => {
    const [record] = await parse('__proto__,constructor\n1,2\n');
    expect(record.fields?.['__proto__']).toBe('1');
    expect(record.fields?.['constructor']).toBe('2');
  });

  it('takes off the formula escape of our exports, and only that', async () => {
    const file = `a,b,c,d\n"'=1+2",'-5,''@x,'plain\n`;
    expect(summary(await parse(file))).toEqual([[2, { a: '=1+2', b: '-5', c: "'@x", d: "'plain" }]]);
  });

  it.each([
    ['a,b,a\n1,2,3\n', 'invalid CSV header (line 1): header column 3 duplicates the name "a"'],
    ['a, ,c\n', 'invalid CSV header (line 1): header column 2 has an empty name'],
    ['\n\n"a,b\n', 'invalid CSV header (line 3): unterminated quoted field at end of file'],
    ['', 'empty CSV file: no header row'],
    ['\r\n\r\n', 'empty CSV file: no header row'],
  ])('rejects the whole file for a bad header: %j', async (data, reason) => {
    const error = await parse(data).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BulkFormatError);
    expect(error).toMatchObject({ reason });
  });

  it('yields nothing for a header-only file', async () => {
    expect(await parse('a,b\r\n')).toEqual([]);
  });

  it('cuts the raw text of a huge record to 1,000 characters', async () => {
    const long = 'z'.repeat(3000);
    const [record] = await parse(`a\n"${long}\n${long}"\n`, 100, 10_000);
    expect(record.fields?.a).toBe(`${long}\n${long}`);
    expect(record.raw).toHaveLength(1000);
    expect(record.rawBytes).toBe(6003);
  });
});

describe('checkCsvHeader', () => {
  it('trims names', () => {
    expect(checkCsvHeader([' a', 'b '])).toEqual({ ok: true, columns: ['a', 'b'] });
  });
  it('tells duplicates after trimming', () => {
    expect(checkCsvHeader(['a', ' a'])).toEqual({ ok: false, reason: 'header column 2 duplicates the name "a"' });
  });
});
