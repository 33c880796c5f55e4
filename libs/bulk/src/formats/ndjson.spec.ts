import { readLines } from './lines';
import { describeJsonError, parseNdjson } from './ndjson';
import { chunked, collect, CHUNK_SIZES } from './spec-helpers';

const parse = (data: string | Buffer, size = Infinity, maxLineBytes = 1024) =>
  collect(parseNdjson(readLines(chunked(data, size), { maxLineBytes })));

describe('parseNdjson', () => {
  const file = [
    '{"id":1,"name":"ok"}', // 1
    '', // 2 skipped
    '{"id":2,}', // 3 malformed
    '   ', // 4 skipped
    '[1,2]', // 5 not an object
    '{"id":3, "text":"é\\n😀"}', // 6
    '42', // 7
    'null', // 8
    '{"id":4', // 9 truncated
    '\t{"id":5}\t', // 10 surrounding whitespace is fine
  ].join('\r\n');

  it.each(CHUNK_SIZES)(
    'reports malformed lines among good ones with exact line numbers (chunks of %s)',
    async (size) => {
      const records = await parse(file, size);
      expect(records.map((r) => [r.line, r.error ?? r.value])).toEqual([
        [1, { id: 1, name: 'ok' }],
        // V8's own words (Node 24 adds the line and column)
        [3, expect.stringMatching(/^malformed JSON: Expected double-quoted property name in JSON at position 8\b/)],
        [5, 'expected a JSON object, got an array'],
        [6, { id: 3, text: 'é\n😀' }],
        [7, 'expected a JSON object, got a number'],
        [8, 'expected a JSON object, got null'],
        [9, expect.stringMatching(/^malformed JSON: /)],
        [10, { id: 5 }],
      ]);
      expect(records[1]).toMatchObject({ raw: '{"id":2,}', rawBytes: 9 });
    },
  );

  it('reads a BOM-prefixed file', async () => {
    expect((await parse('\uFEFF{"a":1}\n'))[0]).toMatchObject({ line: 1, value: { a: 1 } });
  });

  it('makes a too-long line an error record with a short raw and the full size', async () => {
    const big = `{"pad":"${'x'.repeat(5000)}"}`;
    const records = await parse(`${big}\n{"a":1}\n`, 512, 2048);
    expect(records[0]).toMatchObject({ line: 1, error: `line too long (${big.length} bytes)`, rawBytes: big.length });
    expect(records[0].raw).toHaveLength(1000);
    expect(records[0].value).toBeUndefined();
    expect(records[1]).toMatchObject({ line: 2, value: { a: 1 } });
  });

  it('makes a line with invalid UTF-8 an error record', async () => {
    const data = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    expect(await parse(data)).toEqual([{ line: 1, raw: '{"a":"\uFFFD("}', rawBytes: 10, error: 'invalid UTF-8' }]);
  });
});

describe('describeJsonError', () => {
  it('drops the input V8 echoes into its message', () => {
    let message = '';
    try {
      JSON.parse('{"a": tru}');
    } catch (err) {
      message = describeJsonError(err);
    }
    expect(message).toMatch(/^malformed JSON: Unexpected token/);
    expect(message).not.toContain('tru}');
  });
});
