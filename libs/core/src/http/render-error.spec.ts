import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  HttpStatus,
  InternalServerErrorException,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { errorCodes } from 'fastify';
import { AppError } from '../errors';
import { dependencyUnavailable, renderError } from './render-error';

describe('renderError', () => {
  describe('AppError', () => {
    it('passes status, code, message and details through', () => {
      const err = AppError.validation([{ field: 'url', message: 'url must be https' }], 'Bad url');
      expect(renderError(err)).toEqual({
        status: 400,
        body: {
          code: 'validation_failed',
          message: 'Bad url',
          details: [{ field: 'url', message: 'url must be https' }],
        },
      });
    });

    it.each([
      [AppError.unauthorized(), 401, 'unauthorized'],
      [AppError.forbidden('Permission manage_webhooks is required'), 403, 'forbidden'],
      [AppError.notFound('Webhook'), 404, 'not_found'],
      [AppError.conflict('stale', 'revision_mismatch'), 409, 'revision_mismatch'],
      [AppError.unprocessable('in flight'), 422, 'unprocessable'],
      [
        AppError.preconditionRequired('expected_revision is required', 'expected_revision'),
        428,
        'precondition_required',
      ],
      [new AppError(429, 'rate_limited', 'slow down'), 429, 'rate_limited'],
      [new AppError(503, 'service_unavailable', 'db down'), 503, 'service_unavailable'],
    ])('keeps %p as %p %p, without a fault', (err, status, code) => {
      const rendered = renderError(err);
      expect(rendered.status).toBe(status);
      expect(rendered.body.code).toBe(code);
      expect(rendered.body.message).toBe(err.message);
      expect(rendered.fault).toBeUndefined();
      expect(rendered.body.error_id).toBeUndefined();
    });
  });

  describe('Nest HttpException', () => {
    it("rewords the router's 404 'Cannot POST /x' as 'No route POST /x'", () => {
      const rendered = renderError(new NotFoundException('Cannot POST /x'));
      expect(rendered.status).toBe(404);
      expect(rendered.body).toEqual({ code: 'not_found', message: 'No route POST /x', details: undefined });
    });

    it('rewords a 404 for a path with a query string', () => {
      expect(renderError(new NotFoundException('Cannot GET /ipm/nothing?x=1')).body.message).toBe(
        'No route GET /ipm/nothing?x=1',
      );
    });

    it('keeps other 404 messages', () => {
      expect(renderError(new NotFoundException('Webhook not found')).body.message).toBe('Webhook not found');
    });

    it('a 400 carries its message as a detail', () => {
      const rendered = renderError(new BadRequestException('limit must be a number'));
      expect(rendered).toEqual({
        status: 400,
        body: {
          code: 'validation_failed',
          message: 'limit must be a number',
          details: [{ message: 'limit must be a number' }],
        },
      });
    });

    it('joins an array of messages', () => {
      const rendered = renderError(new BadRequestException(['a is bad', 'b is bad']));
      expect(rendered.body.message).toBe('a is bad; b is bad');
    });

    it('takes a string response as the message', () => {
      const rendered = renderError(new HttpException('Too many requests', HttpStatus.TOO_MANY_REQUESTS));
      expect(rendered.status).toBe(429);
      expect(rendered.body).toEqual({ code: 'rate_limited', message: 'Too many requests', details: undefined });
    });

    it('maps statuses to codes, and an unmapped 4xx to client_error', () => {
      expect(renderError(new ForbiddenException('no')).body.code).toBe('forbidden');
      expect(renderError(new PayloadTooLargeException()).body.code).toBe('payload_too_large');
      expect(renderError(new HttpException('teapot', 418))).toMatchObject({
        status: 418,
        body: { code: 'client_error', message: 'teapot' },
      });
    });

    it('a 503 says a dependency is unavailable and lists the checks', () => {
      const checks = { database: { status: 'down' }, redis: { status: 'up' } };
      const rendered = renderError(new ServiceUnavailableException({ status: 'error', details: checks }));
      expect(rendered.status).toBe(503);
      expect(rendered.body.code).toBe('service_unavailable');
      expect(rendered.body.message).toBe('A dependency is unavailable');
      expect(rendered.body.details).toEqual([{ message: 'dependency check failed', checks }]);
    });

    it('any other 5xx exception is an internal error that hides its message', () => {
      const rendered = renderError(new InternalServerErrorException('connection to 10.1.2.3 refused'));
      expect(rendered.status).toBe(500);
      expect(rendered.body.code).toBe('internal_error');
      expect(rendered.body.message).not.toContain('10.1.2.3');
      expect(rendered.fault).toBeInstanceOf(InternalServerErrorException);
    });
  });

  describe('fastify errors', () => {
    it('body too large -> 413 payload_too_large', () => {
      const rendered = renderError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      expect(rendered).toEqual({
        status: 413,
        body: { code: 'payload_too_large', message: 'Request body is too large', details: undefined },
      });
    });

    it('a plain object {statusCode: 413, code: FST_ERR_CTP_BODY_TOO_LARGE} -> 413 payload_too_large', () => {
      const rendered = renderError({ statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE', message: 'too big' });
      expect(rendered.status).toBe(413);
      expect(rendered.body.code).toBe('payload_too_large');
      expect(rendered.fault).toBeUndefined();
    });

    it('invalid JSON -> 400 with a detail', () => {
      const rendered = renderError(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
      expect(rendered).toEqual({
        status: 400,
        body: {
          code: 'validation_failed',
          message: 'Malformed JSON body',
          details: [{ field: 'body', message: 'Malformed JSON body' }],
        },
      });
    });

    it('a SyntaxError tagged 400 by the body reader -> 400 malformed JSON', () => {
      let syntax: SyntaxError;
      try {
        JSON.parse('{"a":');
        throw new Error('unreachable');
      } catch (err) {
        syntax = err as SyntaxError;
      }
      Object.assign(syntax, { statusCode: 400 });
      const rendered = renderError(syntax);
      expect(rendered.status).toBe(400);
      expect(rendered.body.code).toBe('validation_failed');
      expect(rendered.body.message).toBe('Malformed JSON body');
    });

    it('empty JSON body -> 400', () => {
      const rendered = renderError(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY());
      expect(rendered.status).toBe(400);
      expect(rendered.body.code).toBe('validation_failed');
      expect(rendered.body.details).toEqual([{ field: 'body', message: rendered.body.message }]);
    });

    it('an overlong path parameter (414) keeps its status, as uri_too_long', () => {
      const rendered = renderError({ statusCode: 414, code: 'FST_ERR_MAX_PARAM_LENGTH', message: 'too long' });
      expect(rendered.status).toBe(414);
      expect(rendered.body.code).toBe('uri_too_long');
    });

    it('wrong media type -> 415 unsupported_media_type', () => {
      const rendered = renderError(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE());
      expect(rendered.status).toBe(415);
      expect(rendered.body.code).toBe('unsupported_media_type');
      expect(rendered.body.message).toBe('Content-Type must be application/json');
    });

    it('content-length mismatch -> 400', () => {
      const rendered = renderError(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      expect(rendered.status).toBe(400);
      expect(rendered.body.code).toBe('validation_failed');
    });

    it('an unknown 4xx framework error keeps its status and message', () => {
      const rendered = renderError({ statusCode: 405, code: 'FST_SOMETHING', message: 'Method not allowed here' });
      expect(rendered).toEqual({
        status: 405,
        body: { code: 'method_not_allowed', message: 'Method not allowed here', details: undefined },
      });
    });

    it('a framework error with a 5xx status is an internal error', () => {
      const rendered = renderError({ statusCode: 500, code: 'FST_ERR_X', message: 'secret internals' });
      expect(rendered.status).toBe(500);
      expect(rendered.body.message).not.toContain('secret internals');
    });
  });

  describe('unknown errors', () => {
    it('-> 500 with an err_ id and a message that does not leak the original', () => {
      const original = new Error('password authentication failed for user "ipm" at db.internal:5432');
      const rendered = renderError(original);
      expect(rendered.status).toBe(500);
      expect(rendered.body.code).toBe('internal_error');
      expect(rendered.body.error_id).toMatch(/^err_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(rendered.body.message).toContain(rendered.body.error_id);
      expect(rendered.body.message).not.toContain('password');
      expect(rendered.body.message).not.toContain('db.internal');
      expect(rendered.body.details).toBeUndefined();
      expect(rendered.fault).toBe(original);
    });

    it('gives each fault its own error id', () => {
      const a = renderError(new Error('x')).body.error_id;
      const b = renderError(new Error('x')).body.error_id;
      expect(a).not.toBe(b);
    });

    it.each([['a string'], [null], [undefined], [42], [{ message: 'no status' }], [new TypeError('x is undefined')]])(
      'renders the thrown value %p as a 500',
      (thrownValue) => {
        const rendered = renderError(thrownValue);
        expect(rendered.status).toBe(500);
        expect(rendered.body.error_id).toMatch(/^err_/);
        expect(rendered.fault).toBe(thrownValue);
      },
    );
  });

  describe('PostgreSQL or Redis unavailable', () => {
    /** The shapes node-postgres, pg-pool, TypeORM and ioredis throw when their server is gone. */
    const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });
    const queryFailed = (driverError: Error): Error =>
      Object.assign(new Error(driverError.message), { name: 'QueryFailedError', driverError });

    it.each([
      ['ECONNREFUSED (server down)', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
      ['57P01 admin_shutdown', queryFailed(withCode('terminating connection due to administrator command', '57P01'))],
      ['57P03 cannot_connect_now', withCode('the database system is starting up', '57P03')],
      ['08006 connection_failure', queryFailed(withCode('connection failure', '08006'))],
      ['53300 too_many_connections', withCode('sorry, too many clients already', '53300')],
      ['"Connection terminated unexpectedly"', new Error('Connection terminated unexpectedly')],
      ['a pool connect timeout', new Error('timeout exceeded when trying to connect')],
      ['ioredis "Connection is closed."', new Error('Connection is closed.')],
      [
        "TypeORM's QueryRunnerAlreadyReleasedError (a transaction whose connection died)",
        new Error('Query runner already released. Cannot run queries anymore.'),
      ],
      [
        "TypeORM's QueryRunnerProviderAlreadyReleasedError",
        new Error(
          'Database connection provided by a query runner was already released, cannot continue to use its querying methods anymore.',
        ),
      ],
      ['a cause chain', new Error('query failed', { cause: withCode('read ECONNRESET', 'ECONNRESET') })],
      [
        'an AggregateError of addresses',
        new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], 'all addresses failed'),
      ],
    ])('%s -> 503 service_unavailable, no fault and no error id', (_what, err) => {
      const rendered = renderError(err);
      expect(rendered.status).toBe(503);
      expect(rendered.body.code).toBe('service_unavailable');
      expect(rendered.body.error_id).toBeUndefined();
      expect(rendered.fault).toBeUndefined();
      expect(rendered.unavailable).toBeTruthy();
      expect(rendered.body.message).not.toMatch(/127\.0\.0\.1|5432|ECONN/);
    });

    it.each([
      ['a unique violation', queryFailed(withCode('duplicate key value violates unique constraint', '23505'))],
      ['a syntax error', queryFailed(withCode('syntax error at or near "SELEC"', '42601'))],
      ['a query canceled by statement timeout', withCode('canceling statement due to statement timeout', '57014')],
    ])('%s stays a 500', (_what, err) => {
      expect(renderError(err).status).toBe(500);
      expect(dependencyUnavailable(err)).toBeNull();
    });
  });
});
