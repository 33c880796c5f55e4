import { Controller, LoggerService, Module, Post, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import request from 'supertest';
import { ApiModule } from '../../apps/api/src/api.module';
import { createApiApp } from '../../apps/api/src/bootstrap';
import { Public } from '@ipm/auth';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

describe('HTTP edges: every answer is the envelope', () => {
  let api: TestApi;
  let jwt: string;
  const org = uniqueOrg('http');
  beforeAll(async () => {
    api = await startApi();
    jwt = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'] });
  });
  afterAll(() => api.close());

  const envelope = (call: string) => ({
    success: false,
    error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
    build: { build_id: api.config.BUILD_ID },
    stats: { call, service: 'ipm', timestamp_utc: expect.any(String) },
  });

  it('unknown route: 404 envelope', async () => {
    const res = await api.http().post('/ipm/nothing/here').send({}).expect(404);
    expect(res.body).toEqual(envelope('POST /nothing/here'));
    expect(res.body.error.code).toBe('not_found');
    const outside = await api.http().get('/elsewhere').expect(404);
    expect(outside.body.success).toBe(false);
  });

  it('wrong method on a known path: 404 envelope', async () => {
    const res = await api.http().get('/ipm/apikey/list').expect(404);
    expect(res.body).toEqual(envelope('GET /apikey/list'));
  });

  it('malformed JSON: 400 envelope', async () => {
    const res = await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .set('content-type', 'application/json')
      .send('{"limit": 5,')
      .expect(400);
    expect(res.body).toEqual(envelope('POST /apikey/list'));
    expect(res.body.error.code).toBe('validation_failed');
  });

  it('wrong types and unknown fields: 400 naming each field', async () => {
    const res = await api
      .http()
      .post('/ipm/apikey/create')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ name: 42, permissions: 'manage_api_keys', colour: 'red', source_refs: [{ kind: 'x' }] })
      .expect(400);
    const fields = (res.body.error.details as Array<{ field: string }>).map((d) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['name', 'permissions', 'colour', 'source_refs.0.id']));
  });

  it('a JSON body that is not an object: 400', async () => {
    await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .set('content-type', 'application/json')
      .send('[1,2]')
      .expect(400);
  });

  it('a body nested deeper than 64 levels: 400, not a stack overflow', async () => {
    let deep = '{}';
    for (let i = 0; i < 5000; i++) deep = `{"a":${deep}}`; // far past MAX_JSON_DEPTH (512)
    const res = await api
      .http()
      .post('/ipm/apikey/create')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .set('Idempotency-Key', 'deep-1')
      .set('content-type', 'application/json')
      .send(`{"name":"x","permissions":["manage_api_keys"],"extra":${deep}}`)
      .expect(400);
    expect(res.body).toEqual(envelope('POST /apikey/create'));
    expect(res.body.error.message).toMatch(/nested deeper than 512/);
  });

  it('oversize body: 413 envelope', async () => {
    const res = await api
      .http()
      .post('/ipm/apikey/create')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ name: 'x'.repeat(api.config.BODY_LIMIT_BYTES + 10) })
      .expect(413);
    expect(res.body).toEqual(envelope('POST /apikey/create'));
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('a 64 KB header: 431 envelope, not Fastify’s own body', async () => {
    const res = await api
      .http()
      .post('/ipm/apikey/list')
      .set('x-orgcode', org)
      .set('x-padding', 'a'.repeat(64 * 1024))
      .send({})
      .expect(431);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    expect(res.body).toEqual(envelope('POST /apikey/list'));
    expect(res.body.error.code).toBe('headers_too_large');
  });

  it('a body that is not JSON: 415 envelope', async () => {
    const res = await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .set('content-type', 'text/plain')
      .send('limit=5')
      .expect(415);
    expect(res.body).toEqual(envelope('POST /apikey/list'));
  });

  it('a POST without a body is an empty request', async () => {
    const res = await api.http().post('/ipm/apikey/list').set(bearer(jwt)).set('x-orgcode', org).expect(200);
    expect(res.body.data.items).toEqual([]);
  });

  it('/docs-json is OpenAPI 3 and lists every route with its security and errors', async () => {
    const res = await api.http().get('/docs-json').expect(200);
    const doc = res.body as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['api_key', 'jwt']);

    const routes: Array<{ method: string; path: string }> = [];
    for (const mod of api.app.get(ModulesContainer).values()) {
      for (const wrapper of mod.controllers.values()) {
        const ctrl = wrapper.metatype as new (...args: never[]) => unknown;
        const base = String(Reflect.getMetadata(PATH_METADATA, ctrl) ?? '');
        for (const name of Object.getOwnPropertyNames(ctrl.prototype)) {
          const handler = (ctrl.prototype as Record<string, unknown>)[name];
          if (typeof handler !== 'function' || name === 'constructor') continue;
          const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
          if (path === undefined) continue;
          const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number].toLowerCase();
          routes.push({
            method,
            path: `/${base}/${path}`
              .replace(/\/+/g, '/')
              .replace(/\/$/, '')
              .replace(/:([A-Za-z_]+)/g, '{$1}'),
          });
        }
      }
    }
    expect(routes.length).toBeGreaterThanOrEqual(7);
    for (const route of routes) {
      const documented = doc.paths[`/ipm${route.path}`] ?? doc.paths[route.path];
      expect({ route, op: documented?.[route.method] ? 'documented' : 'missing' }).toEqual({
        route,
        op: 'documented',
      });
      const op = documented[route.method];
      expect(Object.keys(op.responses)).toContain('200');
    }
    const create = doc.paths['/ipm/apikey/create'].post;
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404']));
    expect(create.security).toEqual(expect.arrayContaining([{ jwt: [] }, { api_key: [] }]));
  });

  it('/docs serves the UI', async () => {
    const res = await api.http().get('/docs').redirects(1).expect(200);
    expect(res.text).toContain('swagger');
  });
});

describe('a server fault', () => {
  @Controller('test-boom')
  class BoomController {
    @Post()
    @Public()
    boom(): never {
      throw new Error('db password is hunter2');
    }
  }
  @Module({ imports: [ApiModule], controllers: [BoomController] })
  class BoomModule {}

  const lines: string[] = [];
  const logger: LoggerService = {
    log: (m: unknown) => lines.push(String(m)),
    error: (m: unknown) => lines.push(String(m)),
    warn: (m: unknown) => lines.push(String(m)),
  };

  it('is a 500 envelope with an error_id that is in the log line, and no internals', async () => {
    const app = await createApiApp({ module: BoomModule, logger });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    try {
      const res = await request(app.getHttpServer())
        .post('/ipm/test-boom')
        .set('x-request-id', 'boom-req-1')
        .send({})
        .expect(500);
      expect(res.headers['x-request-id']).toBe('boom-req-1');
      expect(res.body).toMatchObject({ success: false, error: { code: 'internal_error' } });
      const errorId = res.body.error.error_id as string;
      expect(errorId).toMatch(/^err_[0-9A-Z]{26}$/);
      expect(JSON.stringify(res.body)).not.toContain('hunter2');
      expect(lines.some((l) => l.includes(`error_id=${errorId} request_id=boom-req-1 POST /ipm/test-boom`))).toBe(true);
    } finally {
      await app.close();
    }
  });
});
