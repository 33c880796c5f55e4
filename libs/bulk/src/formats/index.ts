export { BulkFormatError } from './errors';
export {
  type Chunk,
  type Line,
  LineCounter,
  type LineEnding,
  LineSplitter,
  type ReadLinesOptions,
  readLines,
} from './lines';
export { type NdjsonRecord, parseNdjson } from './ndjson';
export { type CsvOptions, type CsvRecord, parseCsv } from './csv';
export { type DeclaredFormat, SNIFF_BYTES, type SniffResult, sniffFormat } from './sniff';
export { csvHeader, csvRow, escapeCsvText, ndjsonLine, unescapeCsvText } from './writers';
export { RAW_REPORT_CHARS, type ReportEntry, reportLine } from './report';
