/** One NDJSON line: the object as JSON (which escapes every line break inside strings) and \n. */
export function ndjsonLine(value: object): string {
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError('value is not serializable to JSON');
  return json + '\n';
}

const NEEDS_QUOTES = /[",\r\n]/;

/**
 * Text a spreadsheet would read as a formula (OWASP's CSV injection list: `=`, `+`, `-`, `@`, tab,
 * CR, and LF too), behind any number of `'`. The quotes are counted so that escaping stays
 * reversible: `'=x` becomes `''=x` and {@link unescapeCsvText} gives `'=x` back.
 */
const FORMULA_LIKE = /^'*[=+\-@\t\r\n]/;

/** A text cell as exported: a `'` before formula-like text (the cell is then always quoted). */
export function escapeCsvText(text: string): string {
  return FORMULA_LIKE.test(text) ? `'${text}` : text;
}

/** The inverse of {@link escapeCsvText}, applied to every CSV cell an import reads. */
export function unescapeCsvText(text: string): string {
  return text.charCodeAt(0) === 0x27 && FORMULA_LIKE.test(text.slice(1)) ? text.slice(1) : text;
}

function csvField(value: unknown): string {
  let text: string;
  switch (typeof value) {
    case 'string':
      // Only text is escaped: numbers, booleans and dates are written from their values (a KPI's -5
      // is data), JSON text starts with { or [.
      text = escapeCsvText(value);
      if (text !== value) return `"${text.replaceAll('"', '""')}"`;
      break;
    case 'undefined':
      return '';
    case 'number':
    case 'bigint':
    case 'boolean':
      text = String(value);
      break;
    case 'object':
      if (value === null) return '';
      text = value instanceof Date ? value.toISOString() : JSON.stringify(value);
      break;
    default:
      throw new TypeError(`cannot write a ${typeof value} to CSV`);
  }
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * One RFC 4180 record with its CRLF: fields holding a comma, quote, CR or LF are quoted, quotes
 * doubled; null and undefined are empty, dates ISO 8601, other objects JSON. Strings that a
 * spreadsheet would run as a formula get a leading `'`, inside quotes (see {@link escapeCsvText}).
 */
export function csvRow(values: readonly unknown[]): string {
  if (values.length === 1) {
    const only = csvField(values[0]);
    // A lone empty field would be a blank line, which readers skip: quote it.
    return (only === '' ? '""' : only) + '\r\n';
  }
  let row = '';
  for (let i = 0; i < values.length; i++) row += (i === 0 ? '' : ',') + csvField(values[i]);
  return row + '\r\n';
}

export function csvHeader(columns: readonly string[]): string {
  return csvRow(columns);
}
