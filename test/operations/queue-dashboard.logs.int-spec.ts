import { loadConfig } from '@ipm/core';
import { token } from '../support/api';
import { BuiltApi } from '../support/built-api';
import { BUILD_TIMEOUT_MS, ensureBuilt } from '../support/built-worker';

/**
 * The built api (its real logger, every log line collected) at its most verbose: whatever way a token
 * reaches the dashboard (login form, session cookie, Authorization header; accepted or refused), it never
 * shows up in the output.
 */
describe('queue dashboard: tokens never reach a log line (built api, LOG_LEVEL=verbose)', () => {
  let api: BuiltApi | undefined;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    QUEUE_PREFIX: `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}-dashboard-logs`,
    LOG_LEVEL: 'verbose',
    LOG_REQUESTS: 'true',
    NO_COLOR: '1',
  };

  beforeAll(async () => {
    ensureBuilt(['api']);
    api = await BuiltApi.start(env);
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => {
    await api?.kill();
  });

  it('logs requests to the dashboard without the tokens they carried', async () => {
    const config = loadConfig(env);
    const operator = await token(config, { sub: 'ops_logs', orgs: [], permissions: ['operate_queues'] });
    const viewer = await token(config, { sub: 'viewer_logs', orgs: ['acme'], permissions: ['view_audit'] });
    const expired = await token(config, { permissions: ['operate_queues'], expiresIn: -120 });
    const url = (api as BuiltApi).url;
    const form = (jwt: string): RequestInit => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${encodeURIComponent(jwt)}`,
      redirect: 'manual',
    });

    const statuses = [
      (await fetch(`${url}/admin/queues/login`, form(operator))).status,
      (await fetch(`${url}/admin/queues/login`, form(viewer))).status,
      (await fetch(`${url}/admin/queues/login`, form(expired))).status,
      (await fetch(`${url}/admin/queues/api/queues`, { headers: { cookie: `ipm_queue_dashboard=${operator}` } }))
        .status,
      (await fetch(`${url}/admin/queues/api/queues`, { headers: { cookie: `ipm_queue_dashboard=${expired}` } })).status,
      (await fetch(`${url}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${viewer}` } })).status,
      (await fetch(`${url}/admin/queues/api/nope`, { headers: { authorization: `Bearer ${operator}` } })).status,
    ];
    expect(statuses).toEqual([303, 403, 401, 200, 401, 403, 404]);
    for (const action of ['pause', 'resume']) {
      const res = await fetch(`${url}/admin/queues/api/queues/replay/${action}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${operator}` },
      });
      expect(res.status).toBe(200);
    }

    // Let the last lines through the pipe.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const output = (api as BuiltApi).output();
    expect(output).toContain('/admin/queues');
    // Who changed a queue is on record (the JWT's sub), the token is not.
    expect(output).toContain('queue dashboard: ops_logs PUT /admin/queues/api/queues/replay/pause -> 200');
    for (const jwt of [operator, viewer, expired]) {
      const [, payload, signature] = jwt.split('.');
      expect(output).not.toContain(payload);
      expect(output).not.toContain(signature);
    }
  });
});
