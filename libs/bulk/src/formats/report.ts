/** How much of a bad line the per-line error report keeps. */
export const RAW_REPORT_CHARS = 1000;

export interface ReportEntry {
  line: number;
  error: string;
  /** The offending text, possibly already cut by the parser. */
  raw: string;
  /** Byte length of the original text, when the parser knows it (lets a pre-cut `raw` be marked truncated). */
  rawBytes?: number;
}

/** Cuts `text` to at most `max` UTF-16 units without splitting a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/**
 * One NDJSON line of the per-line error report. A long `raw` is cut to 1,000 characters, ends
 * with `…`, and `raw_bytes` gives the original size.
 */
export function reportLine(entry: ReportEntry): string {
  const { line, error, raw } = entry;
  const cut = raw.length > RAW_REPORT_CHARS;
  const originalBytes = entry.rawBytes ?? Buffer.byteLength(raw, 'utf8');
  if (!cut && (entry.rawBytes === undefined || Buffer.byteLength(raw, 'utf8') >= originalBytes)) {
    return JSON.stringify({ line, error, raw }) + '\n';
  }
  return JSON.stringify({ line, error, raw: cutText(raw, RAW_REPORT_CHARS) + '…', raw_bytes: originalBytes }) + '\n';
}
