/** PostgreSQL SQLSTATE of a driver error, if any (TypeORM wraps it in QueryFailedError). */
export function pgCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e.driverError?.code ?? e.code;
  return typeof code === 'string' ? code : undefined;
}

export const PG_UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(err: unknown): boolean {
  return pgCode(err) === PG_UNIQUE_VIOLATION;
}
