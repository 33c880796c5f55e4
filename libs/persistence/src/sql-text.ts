/**
 * A timestamptz column as PostgreSQL's text in the form Date.toISOString() writes (UTC, three
 * decimals, Z), for read paths that send rows on as JSON: the driver's Date parsing and the
 * re-formatting cost more than the query. Milliseconds are truncated, as the driver's Date is.
 */
export function isoTimestampSql(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
