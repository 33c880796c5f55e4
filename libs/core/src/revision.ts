import { AppError, ErrorCode } from './errors';

export const REVISION_FIELD = 'expected_revision';

/**
 * Parses `expected_revision` from an update request: missing is a 428, malformed a 400.
 * Revisions are positive integers, carried as strings on the wire.
 */
export function requireRevision(expected: unknown): number {
  if (expected === undefined || expected === null || expected === '') {
    throw AppError.preconditionRequired(`${REVISION_FIELD} is required to update this record`, REVISION_FIELD);
  }
  if (typeof expected !== 'string' && typeof expected !== 'number') {
    throw AppError.badRequest(`${REVISION_FIELD} must be a positive integer revision`, REVISION_FIELD);
  }
  const n = typeof expected === 'number' ? expected : Number(expected);
  if (!Number.isSafeInteger(n) || n < 1 || (typeof expected === 'string' && !/^\d+$/.test(expected))) {
    throw AppError.badRequest(`${REVISION_FIELD} must be a positive integer revision`, REVISION_FIELD);
  }
  return n;
}

/** 409 unless the caller's revision is the current one. */
export function assertRevision(expected: unknown, current: number): void {
  const wanted = requireRevision(expected);
  if (wanted !== current) throw revisionMismatch(wanted, current);
}

export function revisionMismatch(expected: number, current: number): AppError {
  return AppError.conflict(
    `${REVISION_FIELD} ${expected} is stale: the record is at revision ${current}`,
    ErrorCode.RevisionMismatch,
    [{ field: REVISION_FIELD, message: 'stale revision', expected: String(expected), current: String(current) }],
  );
}

/** Revisions go out as strings (seed 000). */
export function formatRevision(revision: number): string {
  return String(revision);
}
