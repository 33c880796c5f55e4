import { createHmac } from 'node:crypto';
import { waitFor } from '../support/wait';
import { TestReceiver } from '../support/receiver';
import { BUILD_TIMEOUT_MS, type BuiltApp, ensureBuilt, freePort, startBuilt } from '../support/secrets-procs';

/**
 * Structured logs (issue 10, point 2), from the BUILT api and worker as an operator runs them
 * (LOG_FORMAT=json): every line is a JSON record; the api writes one line per request with its
 * request id (the caller's x-request-id, or a new one, echoed in the response), method, route,
 * status, duration and tenant, for unknown routes too; the worker's records made during a job carry
 * the queue, the job id and the delivery id. LOG_REDACT_KEYS masks more fields in a running app.
 */

type Json = Record<string, unknown>;
type Line = Json & { level: string; time: string; msg: string; app: string };

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = (): number => Math.floor(Date.now() / 1000);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Every line of a process's output, parsed; a line that is not a JSON record fails the test. */
function records(output: string): Line[] {
  return output
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
    });
}

describe('structured logs (built api + worker, LOG_FORMAT=json)', () => {
  const org = `logs-${Date.now().toString(36)}`;
  const jwtSecret = 'logs-test-jwt-secret-0123456789abcdef';
  const queuePrefix = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:logs`;
  let api: (BuiltApp & { port: number }) | undefined;
  let worker: (BuiltApp & { port: number }) | undefined;
  let receiver: TestReceiver;
  let env: NodeJS.ProcessEnv;

  const jwt = (): string => {
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
      sub: 'logs-admin',
      orgs: [org],
      permissions: ['manage_webhooks', 'publish_events'],
      aud: 'ipm',
      iat: now(),
      exp: now() + 600,
    })}`;
    return `${input}.${createHmac('sha256', jwtSecret).update(input).digest('base64url')}`;
  };

  const call = (port: number, path: string, init: { body?: Json; headers?: Record<string, string> } = {}) =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method: init.body ? 'POST' : 'GET',
      headers: { 'content-type': 'application/json', 'x-orgcode': org, ...init.headers },
      body: init.body ? JSON.stringify(init.body) : undefined,
    });

  /** The api's request line for a request id, once written. */
  const requestLine = (app: BuiltApp, requestId: string): Promise<Line> =>
    waitFor(`the request line of ${requestId}`, () =>
      records(app.output()).find((l) => l.request_id === requestId && /^request /.test(l.msg)),
    );

  beforeAll(async () => {
    ensureBuilt('api');
    ensureBuilt('worker');
    receiver = await new TestReceiver().start();
    env = {
      ...process.env,
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
      LOG_REQUESTS: 'true',
      JWT_ALGORITHM: 'HS256',
      JWT_SECRET: jwtSecret,
      QUEUE_PREFIX: queuePrefix,
      WEBHOOK_TARGET_ALLOWLIST: '127.0.0.1/32',
      RELAY_POLL_MS: '50',
    };
    delete env.JWT_ISSUER;
    delete env.JWT_PUBLIC_KEY;
    delete env.JWT_JWKS_URL;
    delete env.LOG_REDACT_KEYS;
    const apiPort = await freePort();
    [api, worker] = await Promise.all([
      startBuilt('api', { ...env, API_PORT: String(apiPort), API_HOST: '127.0.0.1' }),
      startBuilt('worker', { ...env, WORKER_PORT: '0' }),
    ]);
  }, BUILD_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await receiver?.close();
  });

  it("a tenant request: the caller's request id echoed, and one line with route, status, duration and tenant", async () => {
    const res = await call(api!.port, '/ipm/webhook/create', {
      body: { endpoint_url: receiver.url('/ok'), name: 'logs' },
      headers: { authorization: `Bearer ${jwt()}`, 'x-request-id': 'logs-it-create-1' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('logs-it-create-1');
    const line = await requestLine(api!, 'logs-it-create-1');
    expect(line).toMatchObject({
      level: 'info',
      app: 'api',
      msg: 'request completed',
      method: 'POST',
      route: '/ipm/webhook/create',
      status: 200,
      tenant: org,
      app_id: null,
    });
    expect(typeof line.duration_ms).toBe('number');
    expect(line.duration_ms as number).toBeGreaterThan(0);
    expect(Date.parse(line.time)).toBeGreaterThan(Date.now() - 60_000);
    // One line per request, and neither the token nor the headers in it.
    expect(records(api!.output()).filter((l) => l.request_id === 'logs-it-create-1')).toHaveLength(1);
    expect(JSON.stringify(line)).not.toMatch(/eyJ|authorization/i);
  });

  it('a request id that is not acceptable is replaced by a new one, which the response and the line carry', async () => {
    const res = await call(api!.port, '/ipm/stat', { headers: { 'x-request-id': 'has spaces "and quotes"' } });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id') ?? '';
    expect(id).toMatch(UUID);
    expect(await requestLine(api!, id)).toMatchObject({ route: '/ipm/stat', status: 200, tenant: null });
  });

  it('refusals and unknown routes are logged too; an unknown path without its query, a signed URL token masked', async () => {
    const refused = await call(api!.port, '/ipm/webhook/list', {
      body: {},
      headers: { authorization: 'Bearer not-a-jwt', 'x-request-id': 'logs-it-401' },
    });
    expect(refused.status).toBe(401);
    expect(await requestLine(api!, 'logs-it-401')).toMatchObject({
      level: 'info',
      route: '/ipm/webhook/list',
      status: 401,
      tenant: null,
    });

    const unknown = await call(
      api!.port,
      '/nowhere/ipm/bulk/upload/AQAAAABnM1MzMDFKRDNWNVQwSzZaOFE5VzJYNFk3QjFDM0Wqq?sig=abc',
      {
        headers: { 'x-request-id': 'logs-it-404' },
      },
    );
    expect(unknown.status).toBe(404);
    const line = await requestLine(api!, 'logs-it-404');
    expect(line).toMatchObject({ route: null, status: 404, path: '/nowhere/ipm/bulk/upload/[REDACTED]' });
    expect(JSON.stringify(line)).not.toContain('sig=abc');
  });

  it("the worker's records during a delivery carry the queue, the job id, the delivery id and the tenant", async () => {
    const created = await call(api!.port, '/ipm/webhook/create', {
      body: { endpoint_url: receiver.url('/deliver'), name: 'logs-delivery' },
      headers: { authorization: `Bearer ${jwt()}` },
    });
    const webhookId = ((await created.json()) as { data: { webhook_id: string } }).data.webhook_id;
    const published = await call(api!.port, '/ipm/event/publish', {
      body: { events: [{ event_type: 'rfp.cancelled', event_id: `logs-evt-${org}`, payload: { rfp_id: 'R-1' } }] },
      headers: { authorization: `Bearer ${jwt()}` },
    });
    expect(published.status).toBe(200);
    const [received] = await receiver.waitFor(1, '/deliver');
    const deliveryId = String(received.headers['webhook-id']);

    const line = await waitFor("the worker's line for the delivery", () =>
      records(worker!.output()).find((l) => l.msg === 'delivery attempted' && l.delivery_id === deliveryId),
    );
    expect(line).toMatchObject({
      level: 'debug',
      app: 'worker',
      queue: 'delivery',
      webhook_id: webhookId,
      tenant: org,
      outcome: 'success',
      status_code: 204, // the receiver's default answer
      attempt: 1,
    });
    expect(typeof line.job_id).toBe('string');
    expect(String(line.job_name)).toMatch(/^delivery\.(send|batch)$/);
    expect(typeof line.duration_ms).toBe('number');
  });

  it('every line either app wrote is a JSON record with a level, a time, a message and the app', () => {
    for (const [name, app] of [
      ['api', api!],
      ['worker', worker!],
    ] as const) {
      const lines = records(app.output());
      expect(lines.length).toBeGreaterThan(3);
      for (const line of lines) {
        expect(line).toEqual(
          expect.objectContaining({
            level: expect.any(String),
            time: expect.any(String),
            msg: expect.any(String),
            app: name,
          }),
        );
      }
    }
    expect(records(worker!.output()).some((l) => /^worker listening on http/.test(l.msg))).toBe(true);
  });

  it('LOG_REDACT_KEYS masks the fields it names in a running app', async () => {
    const masked = await startBuilt('api', {
      ...env,
      LOG_REDACT_KEYS: 'tenant, app_id',
      API_PORT: String(await freePort()),
      API_HOST: '127.0.0.1',
    });
    try {
      const res = await call(masked.port, '/ipm/webhook/list', {
        body: {},
        headers: { authorization: `Bearer ${jwt()}`, 'x-request-id': 'logs-it-masked' },
      });
      expect(res.status).toBe(200);
      const line = await requestLine(masked, 'logs-it-masked');
      expect(line).toMatchObject({
        route: '/ipm/webhook/list',
        status: 200,
        tenant: '[REDACTED]',
        app_id: '[REDACTED]',
      });
      expect(JSON.stringify(records(masked.output()))).not.toContain(`"${org}"`);
    } finally {
      await masked.stop();
    }
  }, 60_000);
});
