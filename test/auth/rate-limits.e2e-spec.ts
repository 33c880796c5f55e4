import { setTimeout as sleep } from 'node:timers/promises';
import type { Response } from 'supertest';
import { loadConfig } from '@ipm/core';
import { RateLimiter } from '@ipm/auth';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

// Low limits for this file only (the other test files run with limits out of reach). Refills are slow (1 and
// 2 per second) so that a burst sent as fast as supertest can is not topped up while it runs.
process.env.RATE_LIMIT_PER_SECOND = '1';
process.env.RATE_LIMIT_TENANT_PER_SECOND = '2';
process.env.RATE_LIMIT_PUBLISH_PER_SECOND = '3';
process.env.RATE_LIMIT_PUBLISH_TENANT_PER_SECOND = '5';
process.env.RATE_LIMIT_BURST_SECONDS = '10';
// Buckets: caller 10, tenant 20, publish caller 30, publish tenant 50.

const RFP = { rfp_id: 'R-1', title: 't', buyer: { org_id: 'O', name: 'N' }, status: 'open' };

describe('rate limits (Redis-backed, per caller and per tenant; two api replicas)', () => {
  let api: TestApi;
  let replica: TestApi;

  beforeAll(async () => {
    api = await startApi();
    replica = await startApi();
  });

  afterAll(async () => {
    await replica.close();
    await api.close();
  });

  const list = (target: TestApi, jwt: string, org: string) =>
    target.http().post('/ipm/webhook/list').set(bearer(jwt)).set('x-orgcode', org).send({});

  /** Sends `n` requests one after the other; returns their statuses and the last response. */
  async function burst(
    n: number,
    send: (i: number) => Promise<Response>,
  ): Promise<{ codes: number[]; last: Response }> {
    const codes: number[] = [];
    let last!: Response;
    for (let i = 0; i < n; i++) {
      last = await send(i);
      codes.push(last.status);
    }
    return { codes, last };
  }

  const count = (codes: number[], status: number): number => codes.filter((c) => c === status).length;

  function expectRateLimited(res: Response, scope: 'caller' | 'tenant', limitClass: 'default' | 'publish'): void {
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
    expect(res.body).toMatchObject({
      success: false,
      error: {
        code: 'rate_limited',
        message: expect.stringContaining(`retry after ${retryAfter} s`),
        details: [
          expect.objectContaining({
            scope,
            limit_class: limitClass,
            retry_after_seconds: retryAfter,
            retry_after_ms: expect.any(Number),
          }),
        ],
      },
      build: { build_id: expect.any(String) },
      stats: expect.objectContaining({ service: 'ipm' }),
    });
  }

  it("a caller's burst: its bucket, then 429 with Retry-After in the header and the envelope; admitted again after it", async () => {
    const org = uniqueOrg('rl-caller');
    const jwt = await token(api.config, { sub: `u-${org}`, orgs: [org], permissions: ['manage_webhooks'] });
    const { codes, last } = await burst(11, () => list(api, jwt, org));
    expect(codes.slice(0, 10)).toEqual(Array(10).fill(200));
    expectRateLimited(last, 'caller', 'default');

    const first = await list(api, jwt, org);
    expect(first.status).toBe(429);
    await sleep(Number(first.body.error.details[0].retry_after_ms) + 50);
    const again = await list(api, jwt, org);
    expect(again.status).toBe(200);
    expect(again.headers['x-ratelimit-limit']).toBe('1');
    expect(again.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('reports what remains on every admitted response', async () => {
    const org = uniqueOrg('rl-headers');
    const jwt = await token(api.config, { sub: `u-${org}`, orgs: [org], permissions: ['manage_webhooks'] });
    const { codes } = await burst(3, async () => {
      const res = await list(api, jwt, org);
      expect(res.headers['x-ratelimit-limit']).toBe('1');
      return res;
    });
    expect(codes).toEqual([200, 200, 200]);
    expect(Number((await list(api, jwt, org)).headers['x-ratelimit-remaining'])).toBe(6);
  });

  it('is shared by api replicas: a caller alternating between two gets one bucket, not two', async () => {
    const org = uniqueOrg('rl-replicas');
    const jwt = await token(api.config, { sub: `u-${org}`, orgs: [org], permissions: ['manage_webhooks'] });
    const { codes } = await burst(16, (i) => list(i % 2 === 0 ? api : replica, jwt, org));
    expect(count(codes, 200)).toBe(10);
    expect(count(codes, 429)).toBe(6);
  });

  it("a tenant's bucket caps its callers together; another tenant is not affected", async () => {
    const org = uniqueOrg('rl-tenant');
    const callers = await Promise.all(
      ['a', 'b', 'c'].map((who) =>
        token(api.config, { sub: `${who}-${org}`, orgs: [org], permissions: ['manage_webhooks'] }),
      ),
    );
    const a = await burst(10, () => list(api, callers[0], org));
    const b = await burst(10, () => list(replica, callers[1], org));
    expect([...a.codes, ...b.codes]).toEqual(Array(20).fill(200));
    const c = await list(api, callers[2], org);
    expectRateLimited(c, 'tenant', 'default');

    const other = uniqueOrg('rl-other');
    const outsider = await token(api.config, { sub: `c-${org}`, orgs: [other], permissions: ['manage_webhooks'] });
    expect((await list(api, outsider, other)).status).toBe(200);
  });

  it('API keys: each key has its own bucket within its tenant', async () => {
    const org = uniqueOrg('rl-keys');
    const admin = await token(api.config, { sub: `admin-${org}`, orgs: [org], permissions: ['manage_api_keys'] });
    const keys: string[] = [];
    for (const name of ['one', 'two']) {
      const res = await api
        .http()
        .post('/ipm/apikey/create')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .send({ name, permissions: ['manage_api_keys'] })
        .expect(200);
      keys.push((res.body.data as { key: string }).key);
    }
    const listKeys = (key: string) =>
      api.http().post('/ipm/apikey/list').set('x-api-key', key).set('x-orgcode', org).send({});
    const one = await burst(11, () => listKeys(keys[0]));
    expect(one.codes.slice(0, 10)).toEqual(Array(10).fill(200));
    expectRateLimited(one.last, 'caller', 'default');
    expect((await listKeys(keys[1])).status).toBe(200);
  });

  it('publish has its own, higher limit: admitted while the caller is limited elsewhere, refused past its own', async () => {
    const org = uniqueOrg('rl-publish');
    const jwt = await token(api.config, {
      sub: `u-${org}`,
      orgs: [org],
      permissions: ['manage_webhooks', 'publish_events'],
    });
    const spent = await burst(11, () => list(api, jwt, org));
    expect(spent.last.status).toBe(429);

    const publish = (i: number) =>
      api
        .http()
        .post('/ipm/event/publish')
        .set(bearer(jwt))
        .set('x-orgcode', org)
        .send({ events: [{ event_type: 'rfp.created', payload: { ...RFP, rfp_id: `R-${i}` } }] });
    // Until the first refusal: the whole publish bucket (30) is admitted, plus what refilled meanwhile (3/s).
    const started = Date.now();
    let admitted = 0;
    let last = await publish(0);
    while (last.status === 200 && admitted < 100) {
      admitted++;
      expect(last.headers['x-ratelimit-limit']).toBe('3');
      last = await publish(admitted);
    }
    expect(admitted).toBeGreaterThanOrEqual(30);
    expect(admitted).toBeLessThanOrEqual(30 + Math.ceil(((Date.now() - started) / 1000) * 3));
    expectRateLimited(last, 'caller', 'publish');
  });

  it('401s spend nothing: a flood of bad credentials leaves the caller its whole bucket', async () => {
    const org = uniqueOrg('rl-401');
    const jwt = await token(api.config, { sub: `u-${org}`, orgs: [org], permissions: ['manage_webhooks'] });
    const forged = await token(api.config, {
      sub: `u-${org}`,
      orgs: [org],
      permissions: ['manage_webhooks'],
      secret: 'another-secret-of-at-least-32-characters!',
    });
    const bad = await burst(15, () => list(api, forged, org));
    expect(bad.codes).toEqual(Array(15).fill(401));
    const good = await burst(10, () => list(api, jwt, org));
    expect(good.codes).toEqual(Array(10).fill(200));
  });

  it('fails open, quickly, when Redis cannot answer: the api stays up without its limits', async () => {
    const limiter = new RateLimiter(loadConfig({ ...process.env, REDIS_URL: 'redis://127.0.0.1:1' }));
    try {
      const started = Date.now();
      const decision = await limiter.check({ kind: 'user', actorId: 'u', orgcode: 'acme', limitClass: 'default' });
      expect(decision.allowed).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await limiter.onApplicationShutdown();
    }
  });
});
