import { REDACTED, redactText } from '@ipm/core';

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

/** An API key cut short by the 1,000-character limit still must not show: what is left of it is masked. */
const CUT_API_KEY = /(?<![A-Za-z0-9_-])ipm_[A-Za-z0-9_-]{8,39}$/;

/**
 * The text of a refused line as the report may show it: credentials recognised by their shape
 * (webhook secrets, API keys, JWTs, Bearer values) masked, as in the logs. The report is a file
 * anyone holding its URL can read, and a line is refused before anything knows what it holds.
 */
export function maskReportText(text: string): string {
  return redactText(text).replace(CUT_API_KEY, `ipm_${REDACTED}`);
}

/**
 * One NDJSON line of the per-line error report. A long `raw` is cut to 1,000 characters, ends
 * with `…`, and `raw_bytes` gives the original size. Credentials in `raw` and `error` are masked.
 */
export function reportLine(entry: ReportEntry): string {
  const { line } = entry;
  // Cut by the parser already: the original was longer than what we were given.
  const preCut = entry.rawBytes !== undefined && Buffer.byteLength(entry.raw, 'utf8') < entry.rawBytes;
  const raw = maskReportText(entry.raw);
  const error = maskReportText(entry.error);
  if (raw.length <= RAW_REPORT_CHARS && !preCut) return JSON.stringify({ line, error, raw }) + '\n';
  const originalBytes = entry.rawBytes ?? Buffer.byteLength(entry.raw, 'utf8');
  return JSON.stringify({ line, error, raw: cutText(raw, RAW_REPORT_CHARS) + '…', raw_bytes: originalBytes }) + '\n';
}
