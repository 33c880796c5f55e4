import { isUtf8 } from 'node:buffer';
import { CsvRowReader, checkCsvHeader } from './csv';
import { LineSplitter, utf8Boundary } from './lines';

export type DeclaredFormat = 'ndjson' | 'csv';
export type SniffResult = { ok: true } | { ok: false; reason: string };

/** How much of the start of a file {@link sniffFormat} looks at. */
export const SNIFF_BYTES = 64 * 1024;
/** Above this share of control characters (other than tab, CR, LF, FF) the file is taken for binary. */
const MAX_CONTROL_RATIO = 0.01;
/** How many complete NDJSON lines to try: if none of them is an object, the file is not NDJSON. */
const NDJSON_PROBE_LINES = 50;

function binaryReason(sample: Buffer, cut: boolean): string | undefined {
  if (sample[0] === 0x1f && sample[1] === 0x8b) return 'the file is gzip-compressed; upload it uncompressed';
  if (sample[0] === 0x50 && sample[1] === 0x4b && sample[2] === 0x03 && sample[3] === 0x04) {
    return 'the file is a ZIP archive (an .xlsx workbook?), not plain text';
  }
  if ((sample[0] === 0xff && sample[1] === 0xfe) || (sample[0] === 0xfe && sample[1] === 0xff)) {
    return 'the file is UTF-16 encoded; it must be UTF-8';
  }
  if (sample.indexOf(0) !== -1) return 'the file contains NUL bytes: binary data or UTF-16 text, not UTF-8 text';
  let control = 0;
  for (let i = 0; i < sample.length; i++) {
    const b = sample[i];
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) || b === 0x7f) control++;
  }
  if (control > sample.length * MAX_CONTROL_RATIO) {
    return `the file looks binary (${((control / sample.length) * 100).toFixed(1)}% control characters)`;
  }
  // The sample may end inside a character: only the complete ones must be valid.
  const complete = cut ? sample.subarray(0, utf8Boundary(sample, sample.length - 1)) : sample;
  if (!isUtf8(complete)) return 'the file is not valid UTF-8 (Latin-1 or Windows-1252?); re-save it as UTF-8';
  return undefined;
}

function sniffNdjson(sample: Buffer, cut: boolean): SniffResult {
  const splitter = new LineSplitter(sample.length + 1);
  const lines = splitter.push(sample);
  const last = splitter.end();
  // Only complete lines take part in the JSON probe: when the sample is cut, so is its last line.
  const complete = cut ? lines : [...lines, ...last];
  const all = [...lines, ...last];
  const first = all.find((l) => l.text.trim() !== '');
  if (first === undefined) return { ok: false, reason: 'the file has no data lines' };
  const start = first.text.trimStart();
  if (start.startsWith('[')) {
    return { ok: false, reason: 'the file looks like a JSON array; NDJSON needs one JSON object per line' };
  }
  if (!start.startsWith('{')) {
    return { ok: false, reason: `line ${first.number} does not start with "{": not NDJSON (one JSON object per line)` };
  }
  if (start.trimEnd() === '{') {
    return { ok: false, reason: 'the file looks like pretty-printed JSON; NDJSON needs each object on one line' };
  }
  const probe = complete.filter((l) => l.text.trim() !== '').slice(0, NDJSON_PROBE_LINES);
  const anObject = probe.some((l) => {
    try {
      const value: unknown = JSON.parse(l.text);
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    } catch {
      return false;
    }
  });
  if (probe.length > 0 && !anObject) {
    return { ok: false, reason: `none of the first ${probe.length} lines is a valid JSON object: not NDJSON` };
  }
  return { ok: true };
}

/** A CSV header never starts with `{`; one starting with `[` may (`[id]`), unless the line is JSON. */
function looksLikeJson(firstLine: string): boolean {
  if (firstLine.startsWith('{')) return true;
  if (!firstLine.startsWith('[')) return false;
  try {
    JSON.parse(firstLine);
    return true;
  } catch {
    return false;
  }
}

function sniffCsv(sample: Buffer, cut: boolean): SniffResult {
  const splitter = new LineSplitter(sample.length + 1);
  const reader = new CsvRowReader(sample.length + 1);
  let header = undefined as ReturnType<CsvRowReader['push']>;
  let firstText: string | undefined;
  for (const line of [...splitter.push(sample), ...splitter.end()]) {
    if (firstText === undefined && line.text.trim() !== '') firstText = line.text.trim();
    header = reader.push(line);
    if (header !== undefined) break;
  }
  header ??= reader.end();
  if (header === undefined || firstText === undefined) return { ok: false, reason: 'the file has no header row' };
  if (looksLikeJson(firstText)) return { ok: false, reason: 'the file looks like JSON, not CSV' };
  if (header.values === undefined) {
    const why = header.error ?? 'unreadable';
    const where = cut ? ` within the first ${SNIFF_BYTES / 1024} KiB` : '';
    return { ok: false, reason: `no usable CSV header${where}: ${why}` };
  }
  const checked = checkCsvHeader(header.values);
  if (!checked.ok) return { ok: false, reason: `no usable CSV header: ${checked.reason}` };
  return { ok: true };
}

/**
 * Decides from the first bytes of a file (up to {@link SNIFF_BYTES}) whether it is plausibly in
 * the declared format, so a job can fail with one clear reason instead of one error per line.
 */
export function sniffFormat(firstBytes: Buffer, declared: DeclaredFormat): SniffResult {
  // A sample of the full size is taken to be cut out of a larger file.
  const cut = firstBytes.length >= SNIFF_BYTES;
  let sample = firstBytes.length > SNIFF_BYTES ? firstBytes.subarray(0, SNIFF_BYTES) : firstBytes;
  if (sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf) sample = sample.subarray(3);
  if (sample.length === 0) return { ok: false, reason: 'the file is empty' };
  const binary = binaryReason(sample, cut);
  if (binary !== undefined) return { ok: false, reason: binary };
  return declared === 'ndjson' ? sniffNdjson(sample, cut) : sniffCsv(sample, cut);
}
