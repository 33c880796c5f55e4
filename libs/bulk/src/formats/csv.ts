import { BulkFormatError } from './errors';
import { type Chunk, type Line, readLines, tooLongMessage } from './lines';
import { cutText, RAW_REPORT_CHARS } from './report';
import { unescapeCsvText } from './writers';

export interface CsvOptions {
  /** Per line, and per record when a quoted field spans lines. */
  maxLineBytes: number;
  /** More fields than this in the header invalidates the file, in a row makes an error record. */
  maxFieldCount?: number;
}

export interface CsvRecord {
  /** The line where the record starts (a quoted field may carry it over several lines). */
  line: number;
  /** The record's text, cut to 1,000 characters; `rawBytes` is the full size. */
  raw: string;
  rawBytes: number;
  /**
   * Column name -> value (a null-prototype object, so any header name is safe), with the formula
   * escape of our exports taken off (`'=x` reads as `=x`; see unescapeCsvText).
   */
  fields?: Record<string, string>;
  error?: string;
}

/** A record split into values, before the header gives them names. */
export interface CsvRow {
  line: number;
  raw: string;
  rawBytes: number;
  values?: string[];
  error?: string;
}

const QUOTE = 0x22;
const COMMA = 0x2c;

/**
 * RFC 4180 record assembly over lines: quoted fields with doubled quotes, commas and line breaks
 * (kept as they were, \n or \r\n). Scans with indexOf, never char by char. Blank lines between
 * records are skipped.
 */
export class CsvRowReader {
  private inRecord = false;
  private inQuotes = false;
  private startLine = 0;
  private values: string[] = [];
  private field = '';
  private raw = '';
  private rawBytes = 0;
  private error: string | undefined;
  /** The terminator of the previous line of an open record, added to `raw` when the next one comes. */
  private pendingEol = '';

  constructor(private readonly maxRecordBytes: number) {}

  /** Feeds one line; returns the row it completes, if any. */
  push(line: Line): CsvRow | undefined {
    if (!this.inRecord) {
      if (line.text.length === 0 && !line.tooLong) return undefined;
      this.inRecord = true;
      this.startLine = line.number;
      this.values = [];
      this.field = '';
      this.raw = '';
      this.rawBytes = 0;
      this.error = undefined;
    } else {
      this.rawBytes += this.pendingEol.length;
      if (this.raw.length <= RAW_REPORT_CHARS) this.raw += this.pendingEol;
    }
    this.rawBytes += line.bytes;
    if (this.raw.length <= RAW_REPORT_CHARS) this.raw += cutText(line.text, RAW_REPORT_CHARS + 1 - this.raw.length);

    if (line.tooLong) {
      this.error = this.startLine === line.number ? tooLongMessage(line.bytes) : `line ${line.number} too long`;
      return this.emit();
    }
    if (line.invalidUtf8) this.error ??= 'invalid UTF-8';
    if (this.parse(line.text, line.number)) return this.emit();
    // Inside a quoted field: the line break belongs to the value.
    this.field += line.eol;
    this.pendingEol = line.eol;
    if (this.rawBytes > this.maxRecordBytes) {
      this.error = `record longer than ${this.maxRecordBytes} bytes (unterminated quote?)`;
      return this.emit();
    }
    return undefined;
  }

  /** At end of input: a record still open is an unterminated quote. */
  end(): CsvRow | undefined {
    if (!this.inRecord) return undefined;
    this.error ??= 'unterminated quoted field at end of file';
    return this.emit();
  }

  private emit(): CsvRow {
    const row: CsvRow = { line: this.startLine, raw: cutText(this.raw, RAW_REPORT_CHARS), rawBytes: this.rawBytes };
    if (this.error !== undefined) row.error = this.error;
    else row.values = this.values;
    this.inRecord = false;
    this.inQuotes = false;
    this.values = [];
    this.field = '';
    this.pendingEol = '';
    return row;
  }

  /** Parses one line into `values`; true when the record is complete at its end. */
  private parse(s: string, lineNumber: number): boolean {
    if (!this.inQuotes && s.indexOf('"') === -1) {
      // Fast path: no quotes on the line at all.
      for (const value of s.split(',')) this.values.push(value);
      return true;
    }
    const n = s.length;
    let i = 0;
    let quoted = this.inQuotes;
    for (;;) {
      if (quoted) {
        const q = s.indexOf('"', i);
        if (q === -1) {
          this.field += s.slice(i);
          this.inQuotes = true;
          return false;
        }
        this.field += s.slice(i, q);
        if (s.charCodeAt(q + 1) === QUOTE) {
          this.field += '"';
          i = q + 2;
          continue;
        }
        quoted = false;
        i = q + 1;
        if (i === n) {
          this.values.push(this.field);
          this.field = '';
          this.inQuotes = false;
          return true;
        }
        let end = i;
        if (s.charCodeAt(i) !== COMMA) {
          // RFC 4180 allows nothing between a closing quote and the comma: report it, keep going.
          this.error ??= `unexpected character after closing quote (line ${lineNumber}, column ${i + 1})`;
          end = s.indexOf(',', i);
          if (end === -1) end = n;
        }
        this.values.push(this.field + s.slice(i, end));
        this.field = '';
        if (end === n) {
          this.inQuotes = false;
          return true;
        }
        i = end + 1;
        continue;
      }
      // At the start of a field.
      if (s.charCodeAt(i) === QUOTE) {
        quoted = true;
        i++;
        continue;
      }
      const comma = s.indexOf(',', i);
      if (comma === -1) {
        this.values.push(s.slice(i));
        this.inQuotes = false;
        return true;
      }
      this.values.push(s.slice(i, comma));
      i = comma + 1;
    }
  }
}

/** Checks a header row; returns the trimmed names or the reason they are unusable. */
export function checkCsvHeader(
  values: readonly string[],
  maxFieldCount?: number,
): { ok: true; columns: string[] } | { ok: false; reason: string } {
  if (maxFieldCount !== undefined && values.length > maxFieldCount) {
    return { ok: false, reason: `header has ${values.length} columns, more than the limit of ${maxFieldCount}` };
  }
  const columns = values.map((v) => v.trim());
  const seen = new Set<string>();
  for (let i = 0; i < columns.length; i++) {
    const name = columns[i];
    if (name === '') return { ok: false, reason: `header column ${i + 1} has an empty name` };
    if (seen.has(name)) return { ok: false, reason: `header column ${i + 1} duplicates the name "${name}"` };
    seen.add(name);
  }
  return { ok: true, columns };
}

/**
 * Parses a CSV file: the first record is the header (trimmed, non-empty, unique names, else the
 * file is invalid and this throws a {@link BulkFormatError}); every later record is yielded with
 * its fields by name, or with `error` (wrong column count, unterminated quote, line too long).
 * A cell's leading `'` before formula-like text is removed, so a file we exported imports as it was.
 */
export async function* parseCsv(source: AsyncIterable<Chunk>, options: CsvOptions): AsyncGenerator<CsvRecord> {
  const reader = new CsvRowReader(options.maxLineBytes);
  let columns: string[] | undefined;
  const toRecord = (row: CsvRow): CsvRecord => {
    const record: CsvRecord = { line: row.line, raw: row.raw, rawBytes: row.rawBytes };
    if (row.values === undefined) record.error = row.error;
    else if (columns === undefined) throw new Error('unreachable: header not read');
    else if (options.maxFieldCount !== undefined && row.values.length > options.maxFieldCount) {
      record.error = `${row.values.length} fields, more than the limit of ${options.maxFieldCount}`;
    } else if (row.values.length !== columns.length) {
      record.error = `expected ${columns.length} columns, got ${row.values.length}`;
    } else {
      const fields = Object.create(null) as Record<string, string>;
      for (let i = 0; i < columns.length; i++) fields[columns[i]] = unescapeCsvText(row.values[i]);
      record.fields = fields;
    }
    return record;
  };
  const header = (row: CsvRow): string[] => {
    if (row.values === undefined) throw new BulkFormatError(`invalid CSV header (line ${row.line}): ${row.error}`);
    const checked = checkCsvHeader(row.values, options.maxFieldCount);
    if (!checked.ok) throw new BulkFormatError(`invalid CSV header (line ${row.line}): ${checked.reason}`);
    return checked.columns;
  };

  for await (const line of readLines(source, options)) {
    const row = reader.push(line);
    if (row === undefined) continue;
    if (columns === undefined) columns = header(row);
    else yield toRecord(row);
  }
  const last = reader.end();
  if (last !== undefined) {
    if (columns === undefined) columns = header(last);
    else yield toRecord(last);
  }
  if (columns === undefined) throw new BulkFormatError('empty CSV file: no header row');
}
