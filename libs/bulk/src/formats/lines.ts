import { isUtf8 } from 'node:buffer';

/** One line of an uploaded file, without its terminator. */
export interface Line {
  /** 1-based line number, counting empty lines too, so reports can point at them. */
  number: number;
  /** The decoded text; for a `tooLong` line only its first `maxLineBytes` bytes (cut at a character boundary). */
  text: string;
  /** Byte length of the whole line, terminator excluded (also for `tooLong` lines). */
  bytes: number;
  /** The terminator found: `''` for a last line without one. CSV needs it to rebuild quoted line breaks. */
  eol: LineEnding;
  tooLong?: true;
  /** The bytes were not valid UTF-8; `text` holds U+FFFD where they were. */
  invalidUtf8?: true;
}

export type LineEnding = '' | '\n' | '\r\n';
export type Chunk = Buffer | Uint8Array | string;

export interface ReadLinesOptions {
  /** Lines longer than this are yielded truncated with `tooLong: true`; never more is buffered (+ one chunk). */
  maxLineBytes: number;
}

export function tooLongMessage(bytes: number): string {
  return `line too long (${bytes} bytes)`;
}

const LF = 0x0a;
const CR = 0x0d;
const REPLACEMENT_CHAR = '\uFFFD';

export function toBuffer(chunk: Chunk): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** The largest index <= `end` that does not cut a UTF-8 sequence of `buf` in two. */
export function utf8Boundary(buf: Buffer, end: number): number {
  if (end >= buf.length) return buf.length;
  let i = end;
  // Continuation bytes are 10xxxxxx; a sequence has at most 3 of them.
  while (i > 0 && end - i < 3 && (buf[i] & 0xc0) === 0x80) i--;
  return (buf[i] & 0xc0) === 0x80 ? end : i;
}

function decode(bytes: Buffer): { text: string; invalidUtf8: boolean } {
  const text = bytes.toString('utf8');
  // isUtf8 runs only when a replacement character shows up, i.e. almost never on good files.
  return { text, invalidUtf8: text.includes(REPLACEMENT_CHAR) && !isUtf8(bytes) };
}

/**
 * Synchronous core of {@link readLines}: push chunks, get the lines they complete. Splits with
 * Buffer.indexOf (no per-byte JS loop) and decodes each line once, so a multi-byte character cut
 * by a chunk boundary is reassembled before decoding.
 */
export class LineSplitter {
  private readonly maxLineBytes: number;
  /** Bytes of the current line seen so far (at most maxLineBytes + 1 of them, see `dropped`). */
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** Bytes of the current line discarded once it went over the limit; > 0 means "too long". */
  private dropped = 0;
  private droppedEndsWithCr = false;
  private lineNumber = 0;
  /** Leading bytes held back until we know whether they are a UTF-8 BOM; null once decided. */
  private head: Buffer | null = Buffer.alloc(0);

  constructor(maxLineBytes: number) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    }
    this.maxLineBytes = maxLineBytes;
  }

  push(chunk: Chunk): Line[] {
    let buf = toBuffer(chunk);
    if (this.head !== null) {
      buf = this.head.length > 0 ? Buffer.concat([this.head, buf]) : buf;
      if (buf.length < 3 && isBomPrefix(buf)) {
        this.head = buf;
        return [];
      }
      this.head = null;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    }
    return this.split(buf);
  }

  /** Call once the source is exhausted: yields the last line when it has no terminator. */
  end(): Line[] {
    const lines: Line[] = [];
    if (this.head !== null) {
      // Fewer than 3 bytes in the whole file that looked like the start of a BOM: they are data.
      const head = this.head;
      this.head = null;
      lines.push(...this.split(head));
    }
    if (this.partsLength > 0 || this.dropped > 0) lines.push(this.finish(Buffer.alloc(0), ''));
    return lines;
  }

  private split(buf: Buffer): Line[] {
    const lines: Line[] = [];
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1) break;
      lines.push(this.finish(buf.subarray(pos, nl), '\n'));
      pos = nl + 1;
    }
    if (pos < buf.length) this.keep(buf.subarray(pos));
    return lines;
  }

  private keep(segment: Buffer): void {
    if (this.dropped > 0) {
      this.dropped += segment.length;
      this.droppedEndsWithCr = segment[segment.length - 1] === CR;
      return;
    }
    this.parts.push(segment);
    this.partsLength += segment.length;
    // +1: a line of exactly maxLineBytes may still be waiting for the \n of its \r\n.
    if (this.partsLength > this.maxLineBytes + 1) {
      const all = Buffer.concat(this.parts, this.partsLength);
      // Keep whole characters only; copy, so the large chunks the line came in can be collected.
      const kept = utf8Boundary(all, this.maxLineBytes);
      this.parts = [Buffer.from(all.subarray(0, kept))];
      this.dropped = this.partsLength - kept;
      this.droppedEndsWithCr = segment[segment.length - 1] === CR;
      this.partsLength = kept;
    }
  }

  private finish(segment: Buffer, terminator: '\n' | ''): Line {
    this.lineNumber++;
    let endsWithCr: boolean;
    if (segment.length > 0) endsWithCr = segment[segment.length - 1] === CR;
    else if (this.dropped > 0) endsWithCr = this.droppedEndsWithCr;
    else if (this.partsLength > 0) {
      const last = this.parts[this.parts.length - 1];
      endsWithCr = last[last.length - 1] === CR;
    } else endsWithCr = false;

    const bytes = this.partsLength + this.dropped + segment.length - (endsWithCr ? 1 : 0);
    const eol: LineEnding = terminator === '' ? '' : endsWithCr ? '\r\n' : '\n';
    // Once bytes were dropped, parts[0] is the (already cut) head of the line and nothing else counts.
    const whole =
      this.dropped > 0 ? this.parts[0] : this.parts.length === 0 ? segment : Buffer.concat([...this.parts, segment]);
    this.parts = [];
    this.partsLength = 0;
    this.dropped = 0;
    this.droppedEndsWithCr = false;

    if (bytes <= this.maxLineBytes) {
      const { text, invalidUtf8 } = decode(whole.subarray(0, bytes));
      const line: Line = { number: this.lineNumber, text, bytes, eol };
      if (invalidUtf8) line.invalidUtf8 = true;
      return line;
    }
    const { text, invalidUtf8 } = decode(whole.subarray(0, utf8Boundary(whole, this.maxLineBytes)));
    const line: Line = { number: this.lineNumber, text, bytes, eol, tooLong: true };
    if (invalidUtf8) line.invalidUtf8 = true;
    return line;
  }
}

function isBomPrefix(buf: Buffer): boolean {
  return (buf.length < 1 || buf[0] === 0xef) && (buf.length < 2 || buf[1] === 0xbb);
}

/**
 * Splits a byte stream into lines: LF or CRLF, a leading UTF-8 BOM stripped, chunk boundaries
 * anywhere (inside a character, between \r and \n). Empty lines are yielded; the caller skips them.
 */
export async function* readLines(source: AsyncIterable<Chunk>, options: ReadLinesOptions): AsyncGenerator<Line> {
  const splitter = new LineSplitter(options.maxLineBytes);
  for await (const chunk of source) {
    for (const line of splitter.push(chunk)) yield line;
  }
  for (const line of splitter.end()) yield line;
}

/**
 * Counts the lines of a byte stream as it passes (the upload counts them for `total_lines`): LF
 * ends a line (CRLF too), and a last line without one still counts. Blank lines count, as the
 * line numbers of a report do.
 */
export class LineCounter {
  private newlines = 0;
  private last = -1;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) this.newlines++;
    this.last = chunk[chunk.length - 1];
  }

  get lines(): number {
    return this.newlines + (this.last !== -1 && this.last !== 0x0a ? 1 : 0);
  }
}
