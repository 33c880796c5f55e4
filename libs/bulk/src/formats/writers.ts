/** One NDJSON line: the object as JSON (which escapes every line break inside strings) and \n. */
export function ndjsonLine(value: object): string {
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError('value is not serializable to JSON');
  return json + '\n';
}

const NEEDS_QUOTES = /[",\r\n]/;

function csvField(value: unknown): string {
  let text: string;
  switch (typeof value) {
    case 'string':
      text = value;
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
 * doubled; null and undefined are empty, dates ISO 8601, other objects JSON.
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
