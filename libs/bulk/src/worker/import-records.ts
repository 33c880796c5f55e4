import { parseCsv, parseNdjson, readLines } from '../formats';
import { CsvRowReader, checkCsvHeader } from '../formats/csv';
import { BulkFormatError } from '../formats/errors';
import { LineSplitter } from '../formats/lines';
import type { BulkFormat } from '../jobs/bulk-job.entity';

/** One record of an uploaded file, as a target sees it: an object, or why the line is bad. */
export interface ImportRecord {
  /** The line where the record starts (1-based, as in the report). */
  line: number;
  raw: string;
  rawBytes: number;
  value?: Record<string, unknown>;
  error?: string;
}

export type CsvMapping = { value: Record<string, unknown> } | { error: string };

/** How a target reads CSV: the columns it knows and how a row becomes the object an NDJSON line would be. */
export interface CsvShape {
  required: readonly string[];
  optional: readonly string[];
  toValue(fields: Readonly<Record<string, string>>): CsvMapping;
}

/** Lines longer than this are reported (and cut), never buffered further. */
export const MAX_IMPORT_LINE_BYTES = 1024 * 1024;

/**
 * The CSV header of a file, read from its first bytes (the sniff sample), checked against the
 * target's columns: a missing required column or an unknown one fails the job with one reason
 * instead of one error per line.
 */
export function checkCsvColumns(sample: Buffer, shape: CsvShape): void {
  const splitter = new LineSplitter(sample.length + 1);
  const reader = new CsvRowReader(sample.length + 1);
  let header: ReturnType<CsvRowReader['push']>;
  for (const line of [...splitter.push(sample), ...splitter.end()]) {
    header = reader.push(line);
    if (header !== undefined) break;
  }
  header ??= reader.end();
  if (header?.values === undefined) throw new BulkFormatError('no usable CSV header');
  const checked = checkCsvHeader(header.values);
  if (!checked.ok) throw new BulkFormatError(`no usable CSV header: ${checked.reason}`);
  const known = new Set([...shape.required, ...shape.optional]);
  const missing = shape.required.filter((c) => !checked.columns.includes(c));
  if (missing.length) throw new BulkFormatError(`CSV header lacks the column(s) ${missing.join(', ')}`);
  const unknown = checked.columns.filter((c) => !known.has(c));
  if (unknown.length) {
    throw new BulkFormatError(
      `CSV header has unknown column(s) ${unknown.join(', ')}; allowed: ${[...known].join(', ')}`,
    );
  }
}

/** The file's records in order, NDJSON or CSV alike; bad lines come with `error`, never as a throw. */
export async function* importRecords(
  source: AsyncIterable<Buffer>,
  format: BulkFormat,
  csv: CsvShape,
): AsyncGenerator<ImportRecord> {
  if (format === 'ndjson') {
    yield* parseNdjson(readLines(source, { maxLineBytes: MAX_IMPORT_LINE_BYTES }));
    return;
  }
  for await (const record of parseCsv(source, { maxLineBytes: MAX_IMPORT_LINE_BYTES })) {
    const { line, raw, rawBytes } = record;
    if (record.fields === undefined) {
      yield { line, raw, rawBytes, error: record.error ?? 'unreadable CSV record' };
      continue;
    }
    const mapped = csv.toValue(record.fields);
    yield 'value' in mapped
      ? { line, raw, rawBytes, value: mapped.value }
      : { line, raw, rawBytes, error: mapped.error };
  }
}
