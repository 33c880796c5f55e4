import { AppError } from './errors';
import { assertRevision, formatRevision, requireRevision, revisionMismatch } from './revision';

function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected the call to throw');
}

describe('requireRevision', () => {
  it.each([undefined, null, ''])('missing (%p) -> 428 precondition_required naming expected_revision', (value) => {
    const err = thrown(() => requireRevision(value));
    expect(err.status).toBe(428);
    expect(err.code).toBe('precondition_required');
    expect(err.details).toEqual([expect.objectContaining({ field: 'expected_revision' })]);
  });

  it.each<string | number>(['abc', '0', '-1', '1.5', ' 1', '1e3', '0x10', '+1', '9007199254740993', 0, -1, 1.5, NaN])(
    'malformed %p -> 400 naming expected_revision',
    (value) => {
      const err = thrown(() => requireRevision(value));
      expect(err.status).toBe(400);
      expect(err.code).toBe('validation_failed');
      expect(err.details).toEqual([expect.objectContaining({ field: 'expected_revision' })]);
    },
  );

  it.each<unknown>([true, false, ['2'], [3], { valueOf: () => 4 }])(
    'a value that is neither a string nor a number (%p) -> 400, never a revision',
    (value) => {
      const err = thrown(() => requireRevision(value));
      expect(err.status).toBe(400);
      expect(err.details).toEqual([expect.objectContaining({ field: 'expected_revision' })]);
    },
  );

  it.each<[string | number, number]>([
    ['1', 1],
    ['42', 42],
    [7, 7],
    ['007', 7],
  ])('accepts %p as %p', (value, expected) => {
    expect(requireRevision(value)).toBe(expected);
  });
});

describe('assertRevision', () => {
  it('passes when the expected revision is the current one', () => {
    expect(() => assertRevision('3', 3)).not.toThrow();
    expect(() => assertRevision(3, 3)).not.toThrow();
  });

  it('a stale revision -> 409 revision_mismatch with both revisions', () => {
    const err = thrown(() => assertRevision('2', 3));
    expect(err.status).toBe(409);
    expect(err.code).toBe('revision_mismatch');
    expect(err.details).toEqual([expect.objectContaining({ field: 'expected_revision', expected: '2', current: '3' })]);
  });

  it('a revision ahead of the record is a mismatch too', () => {
    const err = thrown(() => assertRevision(5, 3));
    expect(err.status).toBe(409);
    expect(err.code).toBe('revision_mismatch');
  });

  it('missing -> 428 and malformed -> 400 before any comparison', () => {
    expect(thrown(() => assertRevision(undefined, 1)).status).toBe(428);
    expect(thrown(() => assertRevision('abc', 1)).status).toBe(400);
  });
});

describe('revisionMismatch / formatRevision', () => {
  it('builds the 409 error', () => {
    const err = revisionMismatch(1, 2);
    expect(err).toBeInstanceOf(AppError);
    expect(err.status).toBe(409);
    expect(err.message).toMatch(/1.*2/);
  });

  it('formats revisions as strings', () => {
    expect(formatRevision(12)).toBe('12');
  });
});
