import { BulkFormatError } from '../formats/errors';
import { checkCsvColumns, type CsvShape, type ImportRecord, importRecords } from './import-records';

const shape: CsvShape = {
  required: ['a', 'b'],
  optional: ['c'],
  toValue: (f) => (f.a === 'bad' ? { error: 'a is bad' } : { value: { a: f.a, b: Number(f.b) } }),
};

async function* toAsync(items: readonly Buffer[]): AsyncGenerator<Buffer> {
  for (const item of items) yield await Promise.resolve(item);
}

async function collect(text: string, format: 'ndjson' | 'csv'): Promise<ImportRecord[]> {
  // One byte at a time: records must not depend on how the file is cut into parts.
  const bytes = Buffer.from(text, 'utf8');
  const source = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
  const out: ImportRecord[] = [];
  for await (const r of importRecords(toAsync(source), format, shape)) out.push(r);
  return out;
}

describe('checkCsvColumns', () => {
  it('accepts required and optional columns in any order', () => {
    expect(() => checkCsvColumns(Buffer.from('b, a ,c\n1,2,3\n'), shape)).not.toThrow();
  });

  it.each([
    ['a,c\n', 'CSV header lacks the column(s) b'],
    ['a,b,d\n', 'CSV header has unknown column(s) d; allowed: a, b, c'],
    ['a,,b\n', 'no usable CSV header: header column 2 has an empty name'],
  ])('refuses the header %j', (text, reason) => {
    expect(() => checkCsvColumns(Buffer.from(text), shape)).toThrow(new BulkFormatError(reason));
  });
});

describe('importRecords', () => {
  it('yields NDJSON objects and errors with their line numbers, skipping blank lines', async () => {
    expect(await collect('{"x":1}\n\n{bad\n{"y":"é"}', 'ndjson')).toEqual([
      { line: 1, raw: '{"x":1}', rawBytes: 7, value: { x: 1 } },
      { line: 3, raw: '{bad', rawBytes: 4, error: expect.stringMatching(/^malformed JSON/) as string },
      { line: 4, raw: '{"y":"é"}', rawBytes: 10, value: { y: 'é' } },
    ]);
  });

  it("maps CSV rows through the target's shape and reports rows it or the parser refuses", async () => {
    const records = await collect('a,b\nx,1\nbad,2\nonly-one\n"multi\nline",3\n', 'csv');
    expect(records).toEqual([
      { line: 2, raw: 'x,1', rawBytes: 3, value: { a: 'x', b: 1 } },
      { line: 3, raw: 'bad,2', rawBytes: 5, error: 'a is bad' },
      { line: 4, raw: 'only-one', rawBytes: 8, error: 'expected 2 columns, got 1' },
      { line: 5, raw: '"multi\nline",3', rawBytes: 14, value: { a: 'multi\nline', b: 3 } },
    ]);
  });
});
