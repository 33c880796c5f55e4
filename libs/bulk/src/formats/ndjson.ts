import { type Line, tooLongMessage } from './lines';
import { cutText, RAW_REPORT_CHARS } from './report';

export interface NdjsonRecord {
  line: number;
  /** The line's text; for a too-long line only its first 1,000 characters (see `rawBytes`). */
  raw: string;
  rawBytes: number;
  /** The parsed object, when there is no `error`. */
  value?: Record<string, unknown>;
  error?: string;
}

/** V8 echoes the input in some messages (`…, "{"a": tru}" is not valid JSON`); `raw` already has it. */
const ECHOED_INPUT = /, ".*" is not valid JSON$/s;

export function describeJsonError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `malformed JSON: ${message.replace(ECHOED_INPUT, '')}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * Parses NDJSON lines into records: one JSON object per line. Blank lines are skipped; every other
 * line yields a record, with `error` for malformed JSON, a non-object value, invalid UTF-8 or a
 * line over the size limit, so the job reports it and goes on.
 */
export async function* parseNdjson(lines: AsyncIterable<Line>): AsyncGenerator<NdjsonRecord> {
  for await (const line of lines) {
    const { text, number, bytes } = line;
    if (line.tooLong) {
      yield {
        line: number,
        raw: cutText(text, RAW_REPORT_CHARS),
        rawBytes: bytes,
        error: tooLongMessage(bytes),
      };
      continue;
    }
    // Cheap blank test first: almost every line starts with '{'.
    if (text.length === 0 || (text.charCodeAt(0) !== 0x7b && text.trim() === '')) continue;
    if (line.invalidUtf8) {
      yield { line: number, raw: text, rawBytes: bytes, error: 'invalid UTF-8' };
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      yield { line: number, raw: text, rawBytes: bytes, error: describeJsonError(err) };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { line: number, raw: text, rawBytes: bytes, error: `expected a JSON object, got ${kindOf(value)}` };
      continue;
    }
    yield { line: number, raw: text, rawBytes: bytes, value: value as Record<string, unknown> };
  }
}
