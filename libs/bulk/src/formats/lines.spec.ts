import { LineCounter, LineSplitter, readLines, utf8Boundary, type Line } from './lines';
import { chunked, collect, CHUNK_SIZES, fromChunks } from './spec-helpers';

const read = (data: Buffer | string, size: number, maxLineBytes = 1024) =>
  collect(readLines(chunked(data, size), { maxLineBytes }));

const texts = (lines: Line[]) => lines.map((l) => l.text);

describe('readLines', () => {
  const sample = Buffer.from('\uFEFFfirst,é\r\n\r\nß漢字😀 line\nlast without newline', 'utf8');

  it.each(CHUNK_SIZES)('gives the same lines for chunks of %s bytes', async (size) => {
    const lines = await read(sample, size);
    expect(lines).toEqual([
      { number: 1, text: 'first,é', bytes: 8, eol: '\r\n' },
      { number: 2, text: '', bytes: 0, eol: '\r\n' },
      { number: 3, text: 'ß漢字😀 line', bytes: Buffer.byteLength('ß漢字😀 line'), eol: '\n' },
      { number: 4, text: 'last without newline', bytes: 20, eol: '' },
    ]);
  });

  it('splits a multi-byte character across chunks at every possible offset', async () => {
    const data = Buffer.from('a😀b\n漢\n', 'utf8');
    for (let cut = 1; cut < data.length; cut++) {
      const source = fromChunks(data.subarray(0, cut), data.subarray(cut));
      const lines = await collect(readLines(source, { maxLineBytes: 100 }));
      expect(texts(lines)).toEqual(['a😀b', '漢']);
      expect(lines.some((l) => l.invalidUtf8)).toBe(false);
    }
  });

  it('handles \\r and \\n in different chunks', async () => {
    const source = fromChunks('one\r', '\ntwo\r', '\n');
    const lines = await collect(readLines(source, { maxLineBytes: 3 }));
    expect(lines).toEqual([
      { number: 1, text: 'one', bytes: 3, eol: '\r\n' },
      { number: 2, text: 'two', bytes: 3, eol: '\r\n' },
    ]);
  });

  it('accepts strings, Buffers and plain Uint8Arrays', async () => {
    const source = fromChunks('a', Buffer.from('b\nc'), new Uint8Array([0x64, 0x0a]));
    expect(texts(await collect(readLines(source, { maxLineBytes: 10 })))).toEqual(['ab', 'cd']);
  });

  it.each(CHUNK_SIZES)('strips a BOM split over chunks of %s bytes, only at the start', async (size) => {
    const lines = await read('\uFEFF\uFEFFx\n\uFEFFy', size);
    expect(texts(lines)).toEqual(['\uFEFFx', '\uFEFFy']);
    expect(lines[0].bytes).toBe(4);
  });

  it('keeps a file shorter than a BOM that starts like one', async () => {
    const lines = await read(Buffer.from([0xef, 0xbb]), 1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ number: 1, bytes: 2, invalidUtf8: true });
  });

  it('yields nothing for an empty file and one empty line for a lone newline', async () => {
    expect(await read('', 1)).toEqual([]);
    expect(await read('\uFEFF', 1)).toEqual([]);
    expect(await read('\n', 1)).toEqual([{ number: 1, text: '', bytes: 0, eol: '\n' }]);
    expect(texts(await read('\n\n\r\nx', 1))).toEqual(['', '', '', 'x']);
  });

  it('strips a trailing \\r at end of file', async () => {
    expect(await read('a\r', 1)).toEqual([{ number: 1, text: 'a', bytes: 1, eol: '' }]);
  });

  it('keeps a lone \\r inside a line', async () => {
    expect(texts(await read('a\rb\n', 2))).toEqual(['a\rb']);
  });

  it.each(CHUNK_SIZES)('flags too-long lines (chunks of %s) and goes on with the next', async (size) => {
    const lines = await read('123456\r\n12345\r\n1234567\n12', size, 5);
    expect(lines).toEqual([
      { number: 1, text: '12345', bytes: 6, eol: '\r\n', tooLong: true },
      { number: 2, text: '12345', bytes: 5, eol: '\r\n' },
      { number: 3, text: '12345', bytes: 7, eol: '\n', tooLong: true },
      { number: 4, text: '12', bytes: 2, eol: '' },
    ]);
  });

  it('flags a too-long last line without newline', async () => {
    expect(await read('abcdefgh', 3, 4)).toEqual([{ number: 1, text: 'abcd', bytes: 8, eol: '', tooLong: true }]);
  });

  it('cuts a too-long line at a character boundary', async () => {
    const lines = await read('aé😀z\n', 2, 4); // a(1) é(2) 😀(4): 4 bytes end inside 😀
    expect(lines[0]).toMatchObject({ text: 'aé', tooLong: true, bytes: 8 });
    expect(lines[0].invalidUtf8).toBeUndefined();
  });

  it('reads a 10 MB single line with maxLineBytes 1 MiB: flagged, text bounded', () => {
    const mib = 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let buffered = 0;
    const splitter = new LineSplitter(mib);
    const lines: Line[] = [];
    for (let sent = 0; sent < 10 * 1000 * 1000; sent += chunk.length) {
      lines.push(...splitter.push(chunk));
      // Private, but the point of the test: never more than the limit (+1 byte for a \r) buffered.
      buffered = Math.max(buffered, (splitter as unknown as { partsLength: number }).partsLength);
    }
    lines.push(...splitter.push('\nnext\n'), ...splitter.end());
    expect(buffered).toBeLessThanOrEqual(mib + 1);
    expect(lines).toHaveLength(2);
    expect(lines[0].tooLong).toBe(true);
    expect(lines[0].text.length).toBe(mib);
    expect(lines[0].bytes).toBe(Math.ceil(10_000_000 / chunk.length) * chunk.length);
    expect(lines[1]).toEqual({ number: 2, text: 'next', bytes: 4, eol: '\n' });
  });

  it('decodes invalid UTF-8 with U+FFFD and flags it', async () => {
    const data = Buffer.concat([Buffer.from('ok\nbad '), Buffer.from([0xff, 0xc3]), Buffer.from('\n\uFFFD real\n')]);
    const lines = await read(data, 1);
    expect(lines[0].invalidUtf8).toBeUndefined();
    expect(lines[1]).toMatchObject({ text: 'bad \uFFFD\uFFFD', bytes: 6, invalidUtf8: true });
    // A genuine U+FFFD in the file is valid UTF-8.
    expect(lines[2].invalidUtf8).toBeUndefined();
  });

  it('rejects a nonsensical limit', () => {
    expect(() => new LineSplitter(0)).toThrow(RangeError);
    expect(() => new LineSplitter(1.5)).toThrow(RangeError);
  });

  it('reads many lines in one chunk without losing any', async () => {
    const body = Array.from({ length: 20_000 }, (_, i) => `{"n":${i}}`).join('\n');
    const lines = await read(body, Infinity);
    expect(lines).toHaveLength(20_000);
    expect(lines[19_999]).toEqual({ number: 20_000, text: '{"n":19999}', bytes: 11, eol: '' });
  });
});

describe('utf8Boundary', () => {
  const buf = Buffer.from('a😀', 'utf8'); // 61 f0 9f 98 80
  it.each([
    [0, 0],
    [1, 1],
    [2, 1],
    [3, 1],
    [4, 1],
    [5, 5],
    [9, 5],
  ])('cut at %s -> %s', (end, expected) => expect(utf8Boundary(buf, end)).toBe(expected));

  it('does not walk back over more than 3 continuation bytes', () => {
    expect(utf8Boundary(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80]), 5)).toBe(5);
  });
});

describe('LineCounter', () => {
  const count = (...chunks: string[]): number => {
    const counter = new LineCounter();
    for (const c of chunks) counter.push(Buffer.from(c, 'utf8'));
    return counter.lines;
  };

  it('counts LF-terminated lines, CRLF ones, and a last line without a terminator', () => {
    expect(count()).toBe(0);
    expect(count('')).toBe(0);
    expect(count('a\nb\n')).toBe(2);
    expect(count('a\r\nb\r\nc')).toBe(3);
    expect(count('\n\n')).toBe(2);
  });

  it('is the same however the bytes are cut', () => {
    const text = 'one\ntwo\r\nthree\n\nfive – ü\nsix';
    for (let cut = 0; cut <= text.length; cut++) expect(count(text.slice(0, cut), text.slice(cut))).toBe(6);
  });
});
