import { parseCsv } from './csv';
import { readLines } from './lines';
import { parseNdjson } from './ndjson';
import { chunked, collect, CHUNK_SIZES } from './spec-helpers';
import { csvHeader, csvRow, escapeCsvText, ndjsonLine, unescapeCsvText } from './writers';

describe('ndjsonLine', () => {
  it('writes one line whatever the strings hold', () => {
    expect(ndjsonLine({ a: 'x\ny\r\u2028', b: [1, null] })).toBe('{"a":"x\\ny\\r\u2028","b":[1,null]}\n');
  });

  it('refuses what JSON cannot hold', () => {
    expect(() => ndjsonLine({ toJSON: () => undefined })).toThrow(TypeError);
    expect(() => ndjsonLine({ n: 1n })).toThrow(TypeError);
  });

  it.each(CHUNK_SIZES)('round-trips through readLines + parseNdjson (chunks of %s)', async (size) => {
    const values = [
      { id: 1, text: 'plain' },
      { id: 2, text: 'line\nbreaks\r\nand "quotes" and é😀', nested: { list: [1, 'two', null, true] } },
      {},
      { id: 4, empty: '' },
    ];
    const file = values.map(ndjsonLine).join('');
    const records = await collect(parseNdjson(readLines(chunked(file, size), { maxLineBytes: 1024 })));
    expect(records.map((r) => r.value)).toEqual(values);
    expect(records.map((r) => r.line)).toEqual([1, 2, 3, 4]);
  });
});

describe('csvRow / csvHeader', () => {
  it.each([
    [['a', 'b'], 'a,b\r\n'],
    [['with,comma', 'with "quote"', 'cr\r', 'lf\n'], '"with,comma","with ""quote""","cr\r","lf\n"\r\n'],
    [[null, undefined, ''], ',,\r\n'],
    [[1, 2.5, -0, 10n, true, false], '1,2.5,0,10,true,false\r\n'],
    [[new Date('2026-01-02T03:04:05.678Z')], '2026-01-02T03:04:05.678Z\r\n'],
    [[{ a: 'x,y' }, [1, 2]], '"{""a"":""x,y""}","[1,2]"\r\n'],
    [[' spaces '], ' spaces \r\n'],
    [[''], '""\r\n'],
    [[null], '""\r\n'],
    [[], '\r\n'],
  ])('writes %j', (values, expected) => expect(csvRow(values)).toBe(expected));

  it('refuses values CSV cannot hold', () => {
    expect(() => csvRow([Symbol('s')])).toThrow('cannot write a symbol to CSV');
    expect(() => csvRow([() => 1])).toThrow(TypeError);
  });

  it.each([
    ['=HYPERLINK("http://x","y")', `"'=HYPERLINK(""http://x"",""y"")"`],
    ['+1 555', `"'+1 555"`],
    ['-5', `"'-5"`],
    ['@SUM(A1)', `"'@SUM(A1)"`],
    ['\tcmd', `"'\tcmd"`],
    ['\rcmd', `"'\rcmd"`],
    ['\ncmd', `"'\ncmd"`],
    ["'=already", `"''=already"`],
    ["'plain", "'plain"],
    ['a=b', 'a=b'],
  ])('escapes formula-like text %j as OWASP says: a leading quote inside a quoted cell', (text, cell) => {
    expect(csvRow([text, 'x'])).toBe(`${cell},x\r\n`);
  });

  it('leaves numbers, booleans, dates and JSON alone: a negative number is data', () => {
    expect(csvRow([-5, -0.5, -10n, new Date('2026-01-02T03:04:05.000Z'), { a: '=1' }, ['-1']])).toBe(
      '-5,-0.5,-10,2026-01-02T03:04:05.000Z,"{""a"":""=1""}","[""-1""]"\r\n',
    );
  });

  it.each(['=1+2', '-5', "'=x", "''+y", "'plain", "'", '', 'a', '@', "'\t"])(
    'unescapeCsvText undoes escapeCsvText for %j',
    (text) => expect(unescapeCsvText(escapeCsvText(text))).toBe(text),
  );

  it('writes a header like a row', () => {
    expect(csvHeader(['id', 'a,b'])).toBe('id,"a,b"\r\n');
  });

  it.each(CHUNK_SIZES)('round-trips through parseCsv with line numbers (chunks of %s)', async (size) => {
    const columns = ['id', 'text', 'json', 'empty'];
    const rows = [
      ['1', 'plain', { a: 1 }, null],
      ['2', 'multi\r\nline\nwith "quotes", commas', [1, 'x,y'], ''],
      ['3', 'é😀', null, undefined],
      ['4', '"', '""', ','],
      ['5', "=cmd|' /C calc'!A0", '-5', "'@x"],
    ];
    const file = csvHeader(columns) + rows.map(csvRow).join('');
    const records = await collect(parseCsv(chunked(file, size), { maxLineBytes: 1024 }));
    expect(records.map((r) => r.error)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(records.map((r) => r.line)).toEqual([2, 3, 6, 7, 8]);
    expect(records.map((r) => ({ ...r.fields }))).toEqual([
      { id: '1', text: 'plain', json: '{"a":1}', empty: '' },
      { id: '2', text: 'multi\r\nline\nwith "quotes", commas', json: '[1,"x,y"]', empty: '' },
      { id: '3', text: 'é😀', json: '', empty: '' },
      { id: '4', text: '"', json: '""', empty: ',' },
      { id: '5', text: "=cmd|' /C calc'!A0", json: '-5', empty: "'@x" },
    ]);
    expect(file).toContain(`5,"'=cmd|' /C calc'!A0","'-5","''@x"\r\n`);
  });

  it('round-trips a one-column file with empty values', async () => {
    const file = csvHeader(['only']) + csvRow(['']) + csvRow(['x']) + csvRow([null]);
    const records = await collect(parseCsv(chunked(file, 3), { maxLineBytes: 64 }));
    expect(records.map((r) => r.fields?.only)).toEqual(['', 'x', '']);
  });

  it('round-trips 20,000 generated rows in one pass', async () => {
    const n = 20_000;
    let file = csvHeader(['n', 'text']);
    for (let i = 0; i < n; i++) file += csvRow([i, i % 7 === 0 ? `a,"b"\n${i}` : `row ${i}`]);
    let count = 0;
    let line = 1;
    for await (const record of parseCsv(chunked(file, 64 * 1024), { maxLineBytes: 1024 })) {
      expect(record.line).toBe(line + 1);
      line = record.line + (Number(record.fields?.n) % 7 === 0 ? 1 : 0);
      count++;
    }
    expect(count).toBe(n);
  });
});
