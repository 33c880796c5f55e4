import { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AppError, loadConfig } from '@ipm/core';
import { AuthGuard } from './auth.guard';
import { ApiKeyAuthenticator } from './api-key.authenticator';
import { Authenticated, Public } from './authenticated.decorator';
import { JwtVerifier } from './jwt.verifier';
import { Permission } from './permissions';
import type { Principal } from './principal';
import type { RateLimitDecision, RateLimiter, RateLimitSubject } from './rate-limit/rate-limiter';

class Routes {
  @Public()
  stat(): void {}

  @Authenticated({ permission: Permission.ManageWebhooks })
  createWebhook(): void {}

  @Authenticated()
  catalog(): void {}

  @Authenticated({ tenant: false })
  whoami(): void {}

  unmarked(): void {}
}

@Authenticated({ permission: Permission.ViewAudit })
class AuditRoutes {
  list(): void {}

  @Public()
  open(): void {}
}

const API_KEY = `ipm_${'k'.repeat(40)}`;
const keyPrincipal: Principal = {
  kind: 'api_key',
  actor_id: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E',
  orgs: ['acme'],
  permissions: [Permission.ManageWebhooks],
  app_id: 'billing',
};

/** An API key store that knows one key, and remembers what it was asked. */
/** Records what the guard asked and answers with `next` (a unit test of the guard; the limiter has its own against Redis). */
class FakeLimiter {
  subjects: RateLimitSubject[] = [];
  next: RateLimitDecision = { allowed: true, limit: 100, remaining: 99 };
  check(subject: RateLimitSubject): Promise<RateLimitDecision> {
    this.subjects.push(subject);
    return Promise.resolve(this.next);
  }
}

class FakeApiKeys {
  readonly presented: string[] = [];
  authenticate(presented: string): Promise<Principal> {
    this.presented.push(presented);
    return presented === API_KEY
      ? Promise.resolve(keyPrincipal)
      : Promise.reject(AppError.unauthorized('Invalid API key'));
  }
}

interface FakeRequest {
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  principal?: Principal;
  caller?: Principal & { orgcode: string };
}

function context(
  req: FakeRequest,
  cls: new () => object,
  method: string,
  type: 'http' | 'rpc' = 'http',
  headers: Record<string, unknown> = {},
): ExecutionContext {
  const handler = (cls.prototype as Record<string, unknown>)[method] as () => void;
  return {
    getType: () => type,
    getHandler: () => handler,
    getClass: () => cls,
    switchToHttp: () => ({
      getRequest: <T>() => req as unknown as T,
      getResponse: <T>() =>
        ({
          header: (name: string, value: unknown) => {
            headers[name] = value;
          },
        }) as T,
      getNext: <T>() => ({}) as T,
    }),
  } as unknown as ExecutionContext;
}

describe('AuthGuard', () => {
  const jwt = new JwtVerifier(loadConfig({}));
  let apiKeys: FakeApiKeys;
  let limiter: FakeLimiter;
  let guard: AuthGuard;
  let token: string;

  beforeAll(async () => {
    token = await jwt.sign({
      sub: 'user-1',
      orgs: ['acme', 'globex'],
      permissions: [Permission.ManageWebhooks],
    });
  });

  beforeEach(() => {
    apiKeys = new FakeApiKeys();
    limiter = new FakeLimiter();
    guard = new AuthGuard(
      new Reflector(),
      jwt,
      apiKeys as unknown as ApiKeyAuthenticator,
      limiter as unknown as RateLimiter,
    );
  });

  async function refusal(req: FakeRequest, cls: new () => object, method: string): Promise<AppError> {
    let err: unknown;
    try {
      await guard.canActivate(context(req, cls, method));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }

  const bearer = (extra: FakeRequest['headers'] = {}): FakeRequest => ({
    headers: { authorization: `Bearer ${token}`, ...extra },
  });

  it('lets public routes through without credentials', async () => {
    await expect(guard.canActivate(context({ headers: {} }, Routes, 'stat'))).resolves.toBe(true);
  });

  it('lets non-HTTP contexts through', async () => {
    await expect(guard.canActivate(context({ headers: {} }, Routes, 'createWebhook', 'rpc'))).resolves.toBe(true);
  });

  it('401 without credentials', async () => {
    const err = await refusal({ headers: { 'x-orgcode': 'acme' } }, Routes, 'createWebhook');
    expect(err.status).toBe(401);
  });

  it.each(['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'token abc'])('401 for Authorization %p', async (value) => {
    const err = await refusal({ headers: { authorization: value, 'x-orgcode': 'acme' } }, Routes, 'createWebhook');
    expect(err.status).toBe(401);
  });

  it('401 for an invalid JWT', async () => {
    const err = await refusal(
      { headers: { authorization: 'Bearer not.a.jwt', 'x-orgcode': 'acme' } },
      Routes,
      'createWebhook',
    );
    expect(err.status).toBe(401);
  });

  it('admits a JWT caller of the tenant with the permission, and sets principal and caller', async () => {
    const req = bearer({ 'x-orgcode': ' acme ' });
    await expect(guard.canActivate(context(req, Routes, 'createWebhook'))).resolves.toBe(true);
    expect(req.principal).toMatchObject({ kind: 'user', actor_id: 'user-1', orgs: ['acme', 'globex'] });
    expect(req.caller).toMatchObject({ actor_id: 'user-1', orgcode: 'acme' });
  });

  it('accepts a case-insensitive bearer scheme', async () => {
    const req = { headers: { authorization: `bearer ${token}`, 'x-orgcode': 'globex' } };
    await expect(guard.canActivate(context(req, Routes, 'catalog'))).resolves.toBe(true);
  });

  it('admits an API key caller (trimmed) bound to the tenant', async () => {
    const req: FakeRequest = { headers: { 'x-api-key': ` ${API_KEY} `, 'x-orgcode': 'acme' } };
    await expect(guard.canActivate(context(req, Routes, 'createWebhook'))).resolves.toBe(true);
    expect(apiKeys.presented).toEqual([API_KEY]);
    expect(req.caller).toMatchObject({ kind: 'api_key', orgcode: 'acme', app_id: 'billing' });
  });

  it('prefers Authorization over x-api-key', async () => {
    const req = bearer({ 'x-api-key': API_KEY, 'x-orgcode': 'globex' });
    await expect(guard.canActivate(context(req, Routes, 'catalog'))).resolves.toBe(true);
    expect(apiKeys.presented).toEqual([]);
    expect(req.principal?.kind).toBe('user');
  });

  it('401 for an unknown API key', async () => {
    const err = await refusal({ headers: { 'x-api-key': 'ipm_nope', 'x-orgcode': 'acme' } }, Routes, 'catalog');
    expect(err.status).toBe(401);
  });

  it('400 naming x-orgcode when the header is missing or malformed on a tenant route', async () => {
    for (const headers of [{}, { 'x-orgcode': '   ' }, { 'x-orgcode': '-bad' }, { 'x-orgcode': 'a/b' }]) {
      const err = await refusal(bearer(headers), Routes, 'catalog');
      expect(err.status).toBe(400);
      expect(err.details).toEqual([expect.objectContaining({ field: 'x-orgcode' })]);
    }
  });

  it('404 when the caller does not belong to the org', async () => {
    const err = await refusal(bearer({ 'x-orgcode': 'initech' }), Routes, 'createWebhook');
    expect(err.status).toBe(404);
    expect(err.code).toBe('not_found');
  });

  it('404 (not 403) for another tenant even without the permission', async () => {
    const err = await refusal(bearer({ 'x-orgcode': 'initech' }), AuditRoutes, 'list');
    expect(err.status).toBe(404);
  });

  it('403 without the permission', async () => {
    const err = await refusal(bearer({ 'x-orgcode': 'acme' }), AuditRoutes, 'list');
    expect(err.status).toBe(403);
    expect(err.message).toContain('view_audit');
  });

  it('a method-level @Public() overrides a class-level @Authenticated()', async () => {
    await expect(guard.canActivate(context({ headers: {} }, AuditRoutes, 'open'))).resolves.toBe(true);
  });

  it('403 on a route with no auth marker, after authenticating', async () => {
    expect((await refusal({ headers: {} }, Routes, 'unmarked')).status).toBe(401);
    expect((await refusal(bearer({ 'x-orgcode': 'acme' }), Routes, 'unmarked')).status).toBe(403);
  });

  it('non-tenant routes need no x-orgcode', async () => {
    const req = bearer();
    await expect(guard.canActivate(context(req, Routes, 'whoami'))).resolves.toBe(true);
    expect(req.caller).toBeUndefined();
    expect(req.principal?.actor_id).toBe('user-1');
  });

  it('400 when request_context.orgcode differs from the header', async () => {
    const req = { ...bearer({ 'x-orgcode': 'acme' }), body: { request_context: { orgcode: 'globex' } } };
    const err = await refusal(req, Routes, 'createWebhook');
    expect(err.status).toBe(400);
    expect(err.details).toEqual([expect.objectContaining({ field: 'request_context.orgcode' })]);
  });

  it('admits a request_context.orgcode equal to the header', async () => {
    const req = { ...bearer({ 'x-orgcode': 'acme' }), body: { request_context: { orgcode: 'acme' } } };
    await expect(guard.canActivate(context(req, Routes, 'createWebhook'))).resolves.toBe(true);
  });

  it('uses the first value of a repeated header', async () => {
    const req = bearer({ 'x-orgcode': ['acme', 'initech'] });
    await expect(guard.canActivate(context(req, Routes, 'catalog'))).resolves.toBe(true);
    expect((req as unknown as FastifyRequest).caller?.orgcode).toBe('acme');
  });

  it('asks the limiter for the caller and the tenant, and sets the rate-limit headers', async () => {
    const headers: Record<string, unknown> = {};
    await expect(
      guard.canActivate(context(bearer({ 'x-orgcode': 'acme' }), Routes, 'createWebhook', 'http', headers)),
    ).resolves.toBe(true);
    expect(limiter.subjects).toEqual([{ kind: 'user', actorId: 'user-1', orgcode: 'acme', limitClass: 'default' }]);
    expect(headers).toEqual({ 'x-ratelimit-limit': 100, 'x-ratelimit-remaining': 99 });
  });

  it('asks without a tenant on non-tenant routes', async () => {
    await guard.canActivate(context(bearer(), Routes, 'whoami'));
    expect(limiter.subjects).toEqual([{ kind: 'user', actorId: 'user-1', orgcode: null, limitClass: 'default' }]);
  });

  it('429 with Retry-After (whole seconds, rounded up) when the limiter refuses; before the permission check', async () => {
    limiter.next = { allowed: false, limit: 100, remaining: 0, scope: 'tenant', retryAfterMs: 1200 };
    const headers: Record<string, unknown> = {};
    let err: unknown;
    try {
      await guard.canActivate(context(bearer({ 'x-orgcode': 'acme' }), AuditRoutes, 'list', 'http', headers));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(429);
    expect((err as AppError).code).toBe('rate_limited');
    expect((err as AppError).details).toEqual([
      expect.objectContaining({
        scope: 'tenant',
        retry_after_seconds: 2,
        retry_after_ms: 1200,
        limit_class: 'default',
      }),
    ]);
    expect(headers['retry-after']).toBe(2);
  });

  it('does not consult the limiter for unauthenticated requests or public routes', async () => {
    await refusal({ headers: { 'x-orgcode': 'acme' } }, Routes, 'createWebhook');
    await guard.canActivate(context({ headers: {} }, Routes, 'stat'));
    expect(limiter.subjects).toEqual([]);
  });
});
