import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { REDACTED } from '../logger';
import { pinoHttpOptions, requestIdOf, requestLogLine, withLogFields } from './pino-options';

const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const API_KEY = 'ipm_abcdefghijABCDEFGHIJ0123456789_-abcdefgh';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJvcmdzIjpbImFjbWUiXX0.Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eA';
const UPLOAD = '/ipm/bulk/upload/AQAAAABnM1MzMDFKRDNWNVQwSzZaOFE5VzJYNFk3QjFDM0WqqqqqqqqqqqqqqqqqqqqqqqqqA';
const SECRETS = [WHSEC, WHSEC.slice(6), API_KEY, JWT, JWT.split('.')[2], UPLOAD.slice(18)];

type Config = Parameters<typeof pinoHttpOptions>[0];
const CONFIG: Config = { LOG_LEVEL: 'verbose', LOG_REDACT_KEYS: '', BUILD_ID: 'b-1' };

/** pino-http over the options, writing into `lines` (one parsed record each). */
function build(config: Partial<Config> = {}) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const http = pinoHttp(pinoHttpOptions({ ...CONFIG, ...config }, 'api'), sink);
  return { http, logger: http.logger as Logger, lines, text: () => JSON.stringify(lines) };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('requestIdOf', () => {
  it.each([
    ['a UUID', '0f8fad5b-d9cb-469f-a165-70867728950e'],
    ['a ULID', '01JD3V5T0K6Z8Q9W2X4Y7B1C3E'],
    ['a trace id', 'Root=1-67891233-abcdef012345678912345678'],
  ])('keeps %s', (_label, id) => expect(requestIdOf(id)).toBe(id));

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['too long', 'a'.repeat(129)],
    ['a line break', 'abc\ninjected'],
    ['spaces', 'a b'],
    ['quotes', '"x"'],
  ])('replaces %s with a new UUID', (_label, id) => {
    expect(requestIdOf(id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('takes the first of repeated headers', () => expect(requestIdOf(['a-1', 'b-2'])).toBe('a-1'));
});

describe('pinoHttpOptions: records', () => {
  it('maps LOG_LEVEL to pino levels: log is info, verbose is trace, the others keep their names', () => {
    expect(build({ LOG_LEVEL: 'log' }).logger.level).toBe('info');
    expect(build({ LOG_LEVEL: 'verbose' }).logger.level).toBe('trace');
    for (const same of ['fatal', 'error', 'warn', 'debug'] as const) {
      expect(build({ LOG_LEVEL: same }).logger.level).toBe(same);
    }
  });

  it('writes JSON with an ISO time, the level name, the app and the build', async () => {
    const { logger, lines } = build();
    logger.info({ context: 'Spec' }, 'hello');
    await flush();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', app: 'api', build: 'b-1', context: 'Spec', msg: 'hello' });
    expect(String(lines[0].time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('masks credentials in messages and printf arguments', async () => {
    const { logger, text } = build();
    logger.info(`created with ${WHSEC} and ${API_KEY}`);
    logger.warn('rejected %s', `Bearer ${JWT}`);
    logger.debug(`PUT ${UPLOAD}`);
    await flush();
    for (const secret of SECRETS) expect(text()).not.toContain(secret);
    expect(text()).toContain(REDACTED);
  });

  it('masks credential properties at any depth, and the names LOG_REDACT_KEYS adds', async () => {
    const { logger, lines, text } = build({ LOG_REDACT_KEYS: 'customer_ssn' });
    logger.info(
      {
        headers: { Authorization: `Bearer ${JWT}`, 'content-type': 'application/json' },
        webhook: { secret: 'opaque-secret', webhook_id: 'whk_1' },
        customer: { customer_ssn: '078-05-1120' },
      },
      'object',
    );
    await flush();
    expect(lines[0]).toMatchObject({
      headers: { Authorization: REDACTED, 'content-type': 'application/json' },
      webhook: { secret: REDACTED, webhook_id: 'whk_1' },
      customer: { customer_ssn: REDACTED },
    });
    expect(text()).not.toContain('opaque-secret');
    expect(text()).not.toContain('078-05-1120');
  });

  it('masks errors: message, stack and properties, keeping their type', async () => {
    class DriverError extends Error {
      password = 'hunter2';
    }
    const { logger, lines, text } = build();
    logger.error({ err: new DriverError(`connect failed for ${API_KEY}`) }, 'boom');
    await flush();
    expect(lines[0].err).toMatchObject({ type: 'DriverError', message: `connect failed for ipm_${REDACTED}` });
    expect(text()).not.toContain(API_KEY);
    expect(text()).not.toContain('hunter2');
  });
});

describe('requestLogLine', () => {
  const base = {
    requestId: 'req-123',
    method: 'POST',
    route: '/ipm/webhook/get' as string | null,
    url: '/ipm/webhook/get?token=secret-query',
    status: 200,
    durationMs: 1.23456,
    tenant: 'acme' as string | null,
    appId: null as string | null,
  };

  it('is an info line with request id, method, route, status, duration, tenant and app; never the URL', () => {
    const line = requestLogLine(base);
    expect(line).toEqual({
      level: 'info',
      msg: 'request completed',
      fields: {
        request_id: 'req-123',
        method: 'POST',
        route: '/ipm/webhook/get',
        status: 200,
        duration_ms: 1.23,
        tenant: 'acme',
        app_id: null,
      },
    });
    expect(JSON.stringify(line)).not.toContain('secret-query');
  });

  it('logs 5xx at error, 4xx at info', () => {
    expect(requestLogLine({ ...base, status: 503 })).toMatchObject({ level: 'error', msg: 'request failed' });
    expect(requestLogLine({ ...base, status: 404 })).toMatchObject({ level: 'info', msg: 'request completed' });
  });

  it('logs successful probes at debug, failing ones at info', () => {
    expect(requestLogLine({ ...base, route: '/health/live' }).level).toBe('debug');
    expect(requestLogLine({ ...base, route: '/metrics' }).level).toBe('debug');
    expect(requestLogLine({ ...base, route: '/health/ready', status: 404 }).level).toBe('info');
    expect(requestLogLine({ ...base, route: '/healthy' }).level).toBe('info');
  });

  it('gives a request no route matched its path, scrubbed, cut, without the query', () => {
    const line = requestLogLine({ ...base, route: null, url: `${UPLOAD}?x=1`, status: 404 });
    expect(line.fields).toMatchObject({ route: null, path: `/ipm/bulk/upload/${REDACTED}` });
    const long = requestLogLine({ ...base, route: null, url: `/${'a'.repeat(500)}` });
    expect(String(long.fields.path)).toHaveLength(200);
  });
});

describe('withLogFields', () => {
  it('adds its fields to every record made inside, across awaits, and nests on top of the outer ones', async () => {
    const { logger, lines } = build();
    logger.info('before');
    await withLogFields({ request_id: 'req-9', tenant: 'acme' }, async () => {
      logger.info('inside');
      await new Promise((resolve) => setTimeout(resolve, 5));
      await withLogFields({ job_id: 'j-1', tenant: 'other' }, async () => {
        await flush();
        logger.info('nested');
      });
      logger.info({ request_id: 'own' }, 'own fields win');
      logger.info('after nesting');
    });
    logger.info('after');
    await flush();
    const seen = lines.map((l) => [l.msg, l.request_id, l.tenant, l.job_id]);
    expect(seen).toEqual([
      ['before', undefined, undefined, undefined],
      ['inside', 'req-9', 'acme', undefined],
      ['nested', 'req-9', 'other', 'j-1'],
      ['own fields win', 'own', 'acme', undefined],
      ['after nesting', 'req-9', 'acme', undefined],
      ['after', undefined, undefined, undefined],
    ]);
  });

  it('keeps concurrent contexts apart', async () => {
    const { logger, lines } = build();
    await Promise.all(
      ['a', 'b', 'c'].map((id, i) =>
        withLogFields({ request_id: id }, async () => {
          await new Promise((resolve) => setTimeout(resolve, 10 - i * 3));
          logger.info(`from ${id}`);
        }),
      ),
    );
    await flush();
    expect(lines.map((l) => `${String(l.msg)}=${String(l.request_id)}`).sort()).toEqual([
      'from a=a',
      'from b=b',
      'from c=c',
    ]);
  });

  it('redacts context fields like any other', async () => {
    const { logger, lines } = build();
    withLogFields({ token: 'opaque', note: `Bearer ${JWT}` }, () => logger.info('x'));
    await flush();
    expect(lines[0]).toMatchObject({ token: REDACTED, note: `Bearer ${REDACTED}` });
  });

  it('returns what its function returns', () => {
    expect(withLogFields({ a: 1 }, () => 42)).toBe(42);
  });
});
