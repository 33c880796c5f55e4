import { DataSource } from 'typeorm';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

describe('Idempotency-Key on creating POSTs', () => {
  let api: TestApi;
  let jwt: string;
  const org = uniqueOrg('idem');

  beforeAll(async () => {
    api = await startApi();
    jwt = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'] });
  });
  afterAll(() => api.close());

  const create = (key: string | undefined, body: Record<string, unknown>, auth = jwt) => {
    const req = api.http().post('/ipm/apikey/create').set(bearer(auth)).set('x-orgcode', org);
    if (key) req.set('Idempotency-Key', key);
    return req.send(body);
  };
  const count = async (name: string) =>
    Number(
      (
        await api.app
          .get(DataSource)
          .query('SELECT count(*)::int AS n FROM api_keys WHERE orgcode = $1 AND name = $2', [org, name])
      )[0].n,
    );

  it('same key and body: the first response again, and one record', async () => {
    const body = { name: 'replayed', permissions: ['manage_api_keys'] };
    const first = await create('idem-1', body).expect(200);
    const second = await create('idem-1', body).expect(200);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.body.data).toEqual(first.body.data);
    expect(second.body.success).toBe(true);
    expect(await count('replayed')).toBe(1);
    // the stored first response holds the key only sealed (AES-256-GCM), never in clear
    const rows = await api.app
      .get(DataSource)
      .query('SELECT response_sealed FROM idempotency_keys WHERE orgcode = $1 AND idempotency_key = $2', [
        org,
        'idem-1',
      ]);
    expect(rows[0].response_sealed).toMatch(/^v1\./);
    expect(rows[0].response_sealed).not.toContain(first.body.data.key.slice(4));
  });

  it('same key with another body: 422', async () => {
    await create('idem-2', { name: 'one', permissions: ['manage_api_keys'] }).expect(200);
    const res = await create('idem-2', { name: 'two', permissions: ['manage_api_keys'] }).expect(422);
    expect(res.body.error.code).toBe('idempotency_key_reused');
    expect(await count('two')).toBe(0);
  });

  it('concurrent requests with one key create one record', async () => {
    const body = { name: 'racing', permissions: ['manage_api_keys'] };
    const results = await Promise.all(Array.from({ length: 6 }, () => create('idem-race', body)));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
    const ids = new Set(results.map((r) => r.body.data.api_key.key_id as string));
    expect(ids.size).toBe(1);
    expect(await count('racing')).toBe(1);
  });

  it('without a key, two requests create two records', async () => {
    const body = { name: 'twice', permissions: ['manage_api_keys'] };
    await create(undefined, body).expect(200);
    await create(undefined, body).expect(200);
    expect(await count('twice')).toBe(2);
  });

  it('another actor of the tenant cannot replay the key (422, not the first response)', async () => {
    const body = { name: 'mine-only', permissions: ['manage_api_keys'] };
    await create('idem-actor', body).expect(200);
    const colleague = await token(api.config, { sub: 'user_2', orgs: [org], permissions: ['manage_api_keys'] });
    const res = await create('idem-actor', body, colleague).expect(422);
    expect(JSON.stringify(res.body)).not.toContain('ipm_');
  });

  it('a failed first request does not burn the key', async () => {
    const weak = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'] });
    await create('idem-3', { name: 'late', permissions: ['view_audit'] }, weak).expect(403);
    const strong = await token(api.config, { orgs: [org], permissions: ['manage_api_keys', 'view_audit'] });
    await create('idem-3', { name: 'late', permissions: ['view_audit'] }, strong).expect(200);
    expect(await count('late')).toBe(1);
  });

  it('keys are per tenant, and a malformed key is a 400', async () => {
    const other = uniqueOrg('idem-other');
    const otherJwt = await token(api.config, { orgs: [other], permissions: ['manage_api_keys'] });
    const body = { name: 'shared-key', permissions: ['manage_api_keys'] };
    const mine = await create('idem-4', body).expect(200);
    const theirs = await api
      .http()
      .post('/ipm/apikey/create')
      .set(bearer(otherJwt))
      .set('x-orgcode', other)
      .set('Idempotency-Key', 'idem-4')
      .send(body)
      .expect(200);
    expect(theirs.body.data.api_key.key_id).not.toBe(mine.body.data.api_key.key_id);
    await create('x'.repeat(300), body).expect(400);
  });
});

describe('audit log', () => {
  let api: TestApi;
  let admin: string;
  const org = uniqueOrg('audit');

  beforeAll(async () => {
    api = await startApi();
    admin = await token(api.config, { sub: 'auditor-7', orgs: [org], permissions: ['manage_api_keys', 'view_audit'] });
  });
  afterAll(() => api.close());

  const audit = (body: Record<string, unknown>, auth = admin, orgcode = org) =>
    api.http().post('/ipm/audit/list').set(bearer(auth)).set('x-orgcode', orgcode).send(body);

  it('every mutation writes a row with actor, reason, source_refs and request_context; never the secret', async () => {
    const created = await api
      .http()
      .post('/ipm/apikey/create')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({
        name: 'audited',
        permissions: ['view_audit'],
        reason: 'onboarding partner',
        source_refs: [{ kind: 'ticket', id: 'OPS-42' }],
        request_context: { orgcode: org, actor: 'jane@acme.test', context_source: 'session' },
      })
      .expect(200);
    const keyId = created.body.data.api_key.key_id as string;
    const secret = created.body.data.key as string;
    await api
      .http()
      .post('/ipm/apikey/revoke')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ key_id: keyId, reason: 'done' })
      .expect(200);

    const res = await audit({ target_id: keyId }).expect(200);
    const rows = res.body.data.items as Array<Record<string, unknown>>;
    expect(rows.map((r) => r.action)).toEqual(['apikey.revoke', 'apikey.create']);
    expect(rows[1]).toMatchObject({
      orgcode: org,
      actor_type: 'user',
      actor_id: 'auditor-7',
      target_type: 'api_key',
      target_id: keyId,
      reason: 'onboarding partner',
      source_refs: [{ kind: 'ticket', id: 'OPS-42' }],
      request_context: { orgcode: org, actor: 'jane@acme.test', context_source: 'session' },
    });
    expect(rows[0]).toMatchObject({ reason: 'done', actor_id: 'auditor-7' });
    expect(JSON.stringify(res.body)).not.toContain(secret);
    const stored = await api.app.get(DataSource).query('SELECT * FROM audit_log WHERE orgcode = $1', [org]);
    expect(JSON.stringify(stored)).not.toContain(secret);
  });

  it('filters by action and time window, and pages', async () => {
    await new Promise((r) => setTimeout(r, 20));
    const before = new Date().toISOString();
    for (let i = 0; i < 3; i++) {
      await api
        .http()
        .post('/ipm/apikey/create')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .send({ name: `w${i}`, permissions: ['view_audit'] })
        .expect(200);
    }
    const creates = await audit({ action: 'apikey.create', from: before, limit: 2 }).expect(200);
    expect(creates.body.data.items).toHaveLength(2);
    expect((creates.body.data.items as Array<{ action: string }>).every((r) => r.action === 'apikey.create')).toBe(
      true,
    );
    const page2 = await audit({
      action: 'apikey.create',
      from: before,
      limit: 2,
      next_token: creates.body.data.next_token,
    }).expect(200);
    expect(page2.body.data.items).toHaveLength(1);
    expect(page2.body.data.next_token).toBeUndefined();
    // changing filters mid-way invalidates the token
    await audit({ action: 'apikey.revoke', limit: 2, next_token: creates.body.data.next_token }).expect(400);
    const future = await audit({ from: new Date(Date.now() + 60_000).toISOString() }).expect(200);
    expect(future.body.data.items).toEqual([]);
    const past = await audit({ to: before }).expect(200);
    expect((past.body.data.items as Array<{ target_id: string }>).length).toBeLessThanOrEqual(2);
  });

  it('400 on bad filters, 401/403, and another tenant sees nothing', async () => {
    await audit({ from: 'yesterday' }).expect(400);
    await audit({ action: 'DROP TABLE' }).expect(400);
    await api.http().post('/ipm/audit/list').set('x-orgcode', org).send({}).expect(401);
    const noView = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'] });
    await audit({}, noView).expect(403);
    const stranger = await token(api.config, { orgs: [uniqueOrg('s')], permissions: ['view_audit'] });
    await audit({}, stranger).expect(404);
    const otherOrg = uniqueOrg('empty');
    const otherAdmin = await token(api.config, { orgs: [otherOrg], permissions: ['view_audit'] });
    const res = await audit({}, otherAdmin, otherOrg).expect(200);
    expect(res.body.data.items).toEqual([]);
  });
});
