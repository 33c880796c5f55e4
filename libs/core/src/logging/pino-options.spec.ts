import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { REDACTED } from '../logger';
import { pinoHttpOptions, requestIdOf, requestLogLine } from './pino-options';

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

describe("pinoHttpOptions: a request's logging context", () => {
  it('binds the request id to records made while the request is handled, and writes no line of its own', async () => {
    const { http, lines } = build();
    const server = createServer((req, res) => {
      req.id = requestIdOf(req.headers['x-request-id']);
      http(req, res);
      req.log.info('inside the handler');
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await fetch(`http://127.0.0.1:${port}/x`, { headers: { 'x-request-id': 'req-9' } }).then((r) => r.text());
      await flush();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ request_id: 'req-9', msg: 'inside the handler' });
    expect(lines[0]).not.toHaveProperty('req');
  });
});
