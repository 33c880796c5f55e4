import { AppError, ErrorCode } from './errors';

describe('AppError', () => {
  it('is an Error with status, code, message and details', () => {
    const err = new AppError(418, 'teapot', 'I am a teapot', [{ field: 'x', message: 'bad' }]);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('AppError');
    expect(err).toMatchObject({ status: 418, code: 'teapot', message: 'I am a teapot' });
    expect(err.details).toEqual([{ field: 'x', message: 'bad' }]);
    expect(err.stack).toContain('AppError');
  });

  it.each<[string, AppError, number, string]>([
    ['validation', AppError.validation([{ field: 'a', message: 'm' }]), 400, ErrorCode.ValidationFailed],
    ['badRequest', AppError.badRequest('limit is bad', 'limit'), 400, 'validation_failed'],
    ['unauthorized', AppError.unauthorized(), 401, 'unauthorized'],
    ['forbidden', AppError.forbidden('no'), 403, 'forbidden'],
    ['notFound', AppError.notFound('Webhook'), 404, 'not_found'],
    ['conflict', AppError.conflict('taken'), 409, 'conflict'],
    ['unprocessable', AppError.unprocessable('cannot'), 422, 'unprocessable'],
    [
      'preconditionRequired',
      AppError.preconditionRequired('need it', 'expected_revision'),
      428,
      'precondition_required',
    ],
  ])('%s -> %p %p', (_name, err, status, code) => {
    expect(err.status).toBe(status);
    expect(err.code).toBe(code);
  });

  it('badRequest names the field in its details', () => {
    expect(AppError.badRequest('limit is bad', 'limit').details).toEqual([{ field: 'limit', message: 'limit is bad' }]);
  });

  it('notFound says what was not found', () => {
    expect(AppError.notFound('Webhook').message).toBe('Webhook not found');
  });

  it('conflict and unprocessable take a custom code', () => {
    expect(AppError.conflict('x', ErrorCode.IllegalTransition).code).toBe('illegal_transition');
    expect(AppError.unprocessable('x', undefined, ErrorCode.IdempotencyMismatch).code).toBe('idempotency_key_reused');
  });
});
