import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ALL_QUEUES, QueueName } from '@ipm/queues';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

// Own BullMQ prefix: the queues this file pauses and fills are nobody else's.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:dashboard`;

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const COOKIE = 'ipm_queue_dashboard';

interface BoardQueue {
  name: string;
  isPaused: boolean;
  jobs: { id: string; name: string; data: unknown }[];
}

/** The session cookie's Set-Cookie header of a response (undefined when none). */
function setCookie(headers: Record<string, unknown>): string | undefined {
  const raw = headers['set-cookie'] as string[] | string | undefined;
  const all = Array.isArray(raw) ? raw : raw ? [raw] : [];
  return all.find((c) => c.startsWith(`${COOKIE}=`));
}

describe('queue dashboard at /admin/queues (real api, PostgreSQL and Redis)', () => {
  let api: TestApi;
  let operator: string;
  const org = uniqueOrg('dash');

  beforeAll(async () => {
    api = await startApi();
    operator = await token(api.config, { sub: 'ops_1', orgs: [], permissions: ['operate_queues'] });
  });
  afterAll(async () => {
    await api.close();
  });

  const queue = (name: QueueName): Queue => api.app.get<Queue>(getQueueToken(name), { strict: false });

  describe('refusals', () => {
    it('401 without credentials: the login page for a browser, the envelope for API clients', async () => {
      const page = await api.http().get('/admin/queues').set('accept', BROWSER_ACCEPT).expect(401);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('<form method="post" action="/admin/queues/login"');
      expect(page.text).toContain('name="token"');
      expect(page.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(page.headers['x-frame-options']).toBe('DENY');
      expect(page.headers['cache-control']).toBe('no-store');

      for (const accept of ['application/json', '*/*']) {
        const res = await api.http().get('/admin/queues/api/queues').set('accept', accept).expect(401);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        expect(res.body).toMatchObject({
          success: false,
          error: { code: 'unauthorized', message: expect.stringContaining('operate_queues') },
          build: { build_id: api.config.BUILD_ID },
          stats: { service: 'ipm' },
        });
      }
      // Even a browser gets JSON from the board's API.
      await api
        .http()
        .get('/admin/queues/api/queues')
        .set('accept', BROWSER_ACCEPT)
        .expect(401)
        .expect('content-type', /json/);
    });

    it('every kind of path under /admin/queues is closed without credentials', async () => {
      const paths: [string, string][] = [
        ['GET', '/admin/queues'],
        ['GET', '/admin/queues/'],
        ['HEAD', '/admin/queues'],
        ['GET', '/admin/queues/queue/delivery'],
        ['GET', '/admin/queues/queue/delivery/123'],
        ['GET', '/admin/queues/api/queues'],
        ['GET', '/admin/queues/api/redis/stats'],
        ['GET', '/admin/queues/api/queues/delivery/1'],
        ['GET', '/admin/queues/api/queues/delivery/1/logs'],
        ['PUT', '/admin/queues/api/queues/pause'],
        ['PUT', '/admin/queues/api/queues/delivery/pause'],
        ['PUT', '/admin/queues/api/queues/delivery/clean/completed'],
        ['PUT', '/admin/queues/api/queues/delivery/retry/failed'],
        ['PUT', '/admin/queues/api/queues/delivery/promote'],
        ['PUT', '/admin/queues/api/queues/delivery/empty'],
        ['PUT', '/admin/queues/api/queues/delivery/obliterate'],
        ['POST', '/admin/queues/api/queues/delivery/add'],
        ['PATCH', '/admin/queues/api/queues/delivery/1/update-data'],
        ['GET', '/admin/queues/static/images/logo.svg'],
        ['GET', '/admin/queues/no/such/path'],
      ];
      for (const [method, path] of paths) {
        const res = await api
          .http()
          [method.toLowerCase() as 'get' | 'put' | 'post' | 'patch' | 'head'](path)
          .set('accept', 'application/json');
        expect(`${method} ${path} -> ${res.status}`).toBe(`${method} ${path} -> 401`);
      }
    });

    it('401 for a malformed, bad, expired or foreign-signed token; 403 without operate_queues', async () => {
      const expired = await token(api.config, { permissions: ['operate_queues'], expiresIn: -120 });
      const foreign = await token(api.config, { permissions: ['operate_queues'], secret: 'x'.repeat(40) });
      const otherAudience = await token(api.config, { permissions: ['operate_queues'], audience: 'someone-else' });
      const cases: [Record<string, string>, string][] = [
        [{ authorization: 'Basic b3BzOm9wcw==' }, 'Authorization must be "Bearer <jwt>"'],
        [bearer('not-a-jwt'), 'Invalid token'],
        [bearer(expired), 'Token expired'],
        [bearer(foreign), 'Invalid token'],
        [bearer(otherAudience), 'Token rejected: aud claim'],
      ];
      for (const [headers, message] of cases) {
        const res = await api.http().get('/admin/queues/api/queues').set(headers).expect(401);
        expect(res.body.error).toMatchObject({ code: 'unauthorized', message });
      }
      const tenantAdmin = await token(api.config, { orgs: [org], permissions: ['manage_webhooks', 'view_audit'] });
      const res = await api.http().get('/admin/queues/api/queues').set(bearer(tenantAdmin)).expect(403);
      expect(res.body.error).toMatchObject({
        code: 'forbidden',
        message: 'Permission operate_queues is required for the queue dashboard',
      });
      const page = await api
        .http()
        .get('/admin/queues')
        .set(bearer(tenantAdmin))
        .set('accept', BROWSER_ACCEPT)
        .expect(403);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('Access refused');
    });

    it('403 for an API key, even one holding operate_queues; 401 for an invalid key', async () => {
      const admin = await token(api.config, { orgs: [org], permissions: ['manage_api_keys', 'operate_queues'] });
      const created = await api
        .http()
        .post('/ipm/apikey/create')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .send({ name: 'ops key', permissions: ['operate_queues'] })
        .expect(200);
      const key = (created.body.data as { key: string }).key;
      const res = await api.http().get('/admin/queues/api/queues').set('x-api-key', key).expect(403);
      expect(res.body.error.code).toBe('forbidden');
      expect(res.body.error.message).toMatch(/JWT only: API keys are refused, even one holding operate_queues/);
      await api.http().put('/admin/queues/api/queues/replay/pause').set('x-api-key', key).expect(403);
      const bad = await api
        .http()
        .get('/admin/queues/api/queues')
        .set('x-api-key', `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)
        .expect(401);
      expect(bad.body.error.code).toBe('unauthorized');
    });
  });

  describe('with an operator JWT', () => {
    it('serves the UI, its static files, and lists every queue of the api', async () => {
      const page = await api
        .http()
        .get('/admin/queues')
        .set(bearer(operator))
        .set('accept', BROWSER_ACCEPT)
        .expect(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('<base href="/admin/queues/"');
      expect(page.text).toContain('IPM queues');
      const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.text)?.[1];
      expect(script).toBeDefined();
      await api
        .http()
        .get(`/admin/queues/${script}`)
        .set(bearer(operator))
        .expect(200)
        .expect('content-type', /javascript/);
      await api.http().get('/admin/queues/queue/delivery').set(bearer(operator)).expect(200);

      const res = await api.http().get('/admin/queues/api/queues').set(bearer(operator)).expect(200);
      const names = (res.body as { queues: BoardQueue[] }).queues.map((q) => q.name).sort();
      expect(names).toEqual([...ALL_QUEUES].sort());
      // An unknown path, once authorized: a 404 in the envelope.
      const missing = await api.http().get('/admin/queues/no/such/path').set(bearer(operator)).expect(404);
      expect(missing.body).toMatchObject({ success: false, error: { code: 'not_found' } });
    });

    it('shows a job added to a real queue', async () => {
      const job = await queue(QueueName.Maintenance).add(
        'dashboard-probe',
        { probe: org },
        { delay: 3_600_000, jobId: `probe-${org}` },
      );
      try {
        const res = await api
          .http()
          .get('/admin/queues/api/queues')
          .query({ activeQueue: 'maintenance', status: 'delayed', page: 1, jobsPerPage: 50 })
          .set(bearer(operator))
          .expect(200);
        const board = (res.body as { queues: BoardQueue[] }).queues.find((q) => q.name === 'maintenance');
        expect(board?.jobs).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ id: job.id, name: 'dashboard-probe', data: { probe: org } }),
          ]),
        );
        const one = await api
          .http()
          .get(`/admin/queues/api/queues/maintenance/${encodeURIComponent(job.id as string)}`)
          .set(bearer(operator))
          .expect(200);
        expect(one.body).toMatchObject({ job: { id: job.id, name: 'dashboard-probe' }, status: 'delayed' });
      } finally {
        await job.remove();
      }
    });

    it('pause and resume: refused without credentials, done with them', async () => {
      const replay = queue(QueueName.Replay);
      expect(await replay.isPaused()).toBe(false);
      await api.http().put('/admin/queues/api/queues/replay/pause').expect(401);
      await api.http().put('/admin/queues/api/queues/replay/clean/completed').expect(401);
      expect(await replay.isPaused()).toBe(false);

      await api.http().put('/admin/queues/api/queues/replay/pause').set(bearer(operator)).expect(200);
      expect(await replay.isPaused()).toBe(true);
      const listed = await api.http().get('/admin/queues/api/queues').set(bearer(operator)).expect(200);
      expect((listed.body as { queues: BoardQueue[] }).queues.find((q) => q.name === 'replay')?.isPaused).toBe(true);
      await api.http().put('/admin/queues/api/queues/replay/resume').set(bearer(operator)).expect(200);
      expect(await replay.isPaused()).toBe(false);
      await api.http().put('/admin/queues/api/queues/replay/clean/completed').set(bearer(operator)).expect(200);
    });
  });

  describe('browser login', () => {
    const login = (body: string, headers: Record<string, string> = {}) =>
      api.http().post('/admin/queues/login').type('form').set(headers).send(body);

    it('sets an HttpOnly, SameSite=Strict cookie on /admin/queues for the token lifetime, and redirects (303)', async () => {
      const res = await login(`token=${encodeURIComponent(operator)}`).expect(303);
      expect(res.headers.location).toBe('/admin/queues');
      const cookie = setCookie(res.headers);
      expect(cookie).toBeDefined();
      const attrs = (cookie as string).split('; ');
      expect(attrs[0]).toBe(`${COOKIE}=${operator}`);
      expect(attrs).toEqual(expect.arrayContaining(['Path=/admin/queues', 'HttpOnly', 'SameSite=Strict']));
      expect(attrs).not.toContain('Secure');
      const maxAge = Number(attrs.find((a) => a.startsWith('Max-Age='))?.slice('Max-Age='.length));
      // token() mints an hour: the session may not outlive it.
      expect(maxAge).toBeGreaterThan(3500);
      expect(maxAge).toBeLessThanOrEqual(3600);
      expect(res.text).not.toContain(operator);

      // A short-lived token: a short session.
      const brief = await token(api.config, { permissions: ['operate_queues'], expiresIn: 90 });
      const briefCookie = setCookie((await login(`token=Bearer%20${encodeURIComponent(brief)}`).expect(303)).headers);
      expect(Number(/Max-Age=(\d+)/.exec(briefCookie as string)?.[1])).toBeLessThanOrEqual(90);
    });

    it('Secure when the request came over https (X-Forwarded-Proto)', async () => {
      const res = await login(`token=${encodeURIComponent(operator)}`, { 'x-forwarded-proto': 'https' }).expect(303);
      expect(setCookie(res.headers)?.split('; ')).toContain('Secure');
    });

    it('the cookie opens the UI and the API; logout clears it', async () => {
      const cookie = `${COOKIE}=${operator}`;
      await api.http().get('/admin/queues').set('cookie', cookie).set('accept', BROWSER_ACCEPT).expect(200);
      const res = await api.http().get('/admin/queues/api/queues').set('cookie', `other=1; ${cookie}`).expect(200);
      expect((res.body as { queues: BoardQueue[] }).queues).toHaveLength(ALL_QUEUES.length);
      // The cookie is the operator's JWT: writes through it too, from the dashboard's own origin.
      await api
        .http()
        .put('/admin/queues/api/queues/replay/pause')
        .set('cookie', cookie)
        .set('sec-fetch-site', 'same-origin')
        .expect(200);
      await api.http().put('/admin/queues/api/queues/replay/resume').set('cookie', cookie).expect(200);
      // ... but not from another site, not even a sibling subdomain (SameSite allows those).
      await api
        .http()
        .put('/admin/queues/api/queues/replay/pause')
        .set('cookie', cookie)
        .set('sec-fetch-site', 'same-site')
        .expect(403);
      expect(await queue(QueueName.Replay).isPaused()).toBe(false);

      for (const method of ['post', 'get'] as const) {
        const out = await api.http()[method]('/admin/queues/logout').set('cookie', cookie).expect(303);
        expect(out.headers.location).toBe('/admin/queues');
        const cleared = setCookie(out.headers)?.split('; ');
        expect(cleared?.[0]).toBe(`${COOKIE}=`);
        expect(cleared).toEqual(expect.arrayContaining(['Max-Age=0', 'Path=/admin/queues', 'HttpOnly']));
      }
    });

    it('a wrong or expired token gets the login page again (401) with a message; no operate_queues a 403 page', async () => {
      const expired = await token(api.config, { permissions: ['operate_queues'], expiresIn: -120 });
      for (const [body, message] of [
        ['token=', 'Paste a JWT'],
        ['token=hello', 'That is not a JWT'],
        [`token=${encodeURIComponent(expired)}`, 'Token expired'],
        [`token=${encodeURIComponent(operator.slice(0, -2))}xx`, 'Invalid token'],
      ]) {
        const res = await login(body).expect(401);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.text).toContain(message);
        expect(res.text).toContain('action="/admin/queues/login"');
        expect(setCookie(res.headers)).toBeUndefined();
      }
      const viewer = await token(api.config, { orgs: [org], permissions: ['view_audit'] });
      const res = await login(`token=${encodeURIComponent(viewer)}`).expect(403);
      expect(res.text).toContain('Permission operate_queues is required');
      expect(res.text).not.toContain(viewer);
      expect(setCookie(res.headers)).toBeUndefined();
      // A login posted from another site is refused (login CSRF).
      await login(`token=${encodeURIComponent(operator)}`, { 'sec-fetch-site': 'cross-site' }).expect(403);
    });

    it('a session cookie whose token expired is deleted, and the login page says why', async () => {
      const expired = await token(api.config, { permissions: ['operate_queues'], expiresIn: -120 });
      const res = await api
        .http()
        .get('/admin/queues')
        .set('cookie', `${COOKIE}=${expired}`)
        .set('accept', BROWSER_ACCEPT)
        .expect(401);
      expect(res.text).toContain('Your session has ended (Token expired)');
      expect(setCookie(res.headers)).toMatch(/^ipm_queue_dashboard=; .*Max-Age=0/);
    });

    it('the login routes take a form body; other api routes still refuse one (415)', async () => {
      await api.http().post('/ipm/webhook/list').type('form').send('token=x').expect(415);
      await api
        .http()
        .put('/admin/queues/api/queues/replay/pause')
        .set(bearer(operator))
        .type('form')
        .send('a=1')
        .expect(415);
    });
  });

  it('the dashboard routes are not in the OpenAPI document and do not add per-path metric labels', async () => {
    const doc = await api.http().get('/docs-json').expect(200);
    expect(
      Object.keys((doc.body as { paths: Record<string, unknown> }).paths).filter((p) => p.startsWith('/admin')),
    ).toEqual([]);
    await api.http().get('/admin/queues/api/queues/delivery/some-job-id').set(bearer(operator));
    await api.http().get('/admin/queues/static/does-not-exist-42.js').set(bearer(operator));
    const metrics = await api.http().get('/metrics').expect(200);
    const routes = new Set([...metrics.text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
    const dashboard = [...routes].filter((r) => r.startsWith('/admin'));
    expect(dashboard).toEqual(
      expect.arrayContaining(['/admin/queues/api/queues', '/admin/queues/api/queues/:queueName/:jobId']),
    );
    expect(dashboard.some((r) => /some-job-id|does-not-exist/.test(r))).toBe(false);
  });
});
