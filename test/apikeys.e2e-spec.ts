import { DataSource } from 'typeorm';
import { bearer, startApi, TestApi, token, uniqueOrg } from './support/api';

describe('/apikey routes', () => {
  let api: TestApi;
  let admin: string;
  const org = uniqueOrg('keys');

  beforeAll(async () => {
    api = await startApi();
    admin = await token(api.config, { orgs: [org], permissions: ['manage_api_keys', 'view_audit', 'manage_webhooks'] });
  });
  afterAll(() => api.close());

  const create = (jwt: string, body: Record<string, unknown>, orgcode = org) =>
    api.http().post('/ipm/apikey/create').set(bearer(jwt)).set('x-orgcode', orgcode).send(body);

  it('create returns the key once; it is stored only as a hash; use; revoke; then 401', async () => {
    const res = await create(admin, { name: 'ci', permissions: ['manage_api_keys'], reason: 'ci pipeline' }).expect(
      200,
    );
    const { key, api_key } = res.body.data as { key: string; api_key: Record<string, unknown> };
    expect(key).toMatch(/^ipm_[A-Za-z0-9_-]{40}$/);
    expect(api_key).toMatchObject({
      key_id: expect.stringMatching(/^key_/),
      orgcode: org,
      prefix: key.slice(0, 12),
      permissions: ['manage_api_keys'],
      status: 'active',
      created_by: 'user_1',
    });
    expect(JSON.stringify(api_key)).not.toContain(key);

    const rows = await api.app
      .get(DataSource)
      .query('SELECT key_hash FROM api_keys WHERE key_id = $1', [api_key.key_id]);
    expect(rows[0].key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].key_hash).not.toContain(key.slice(4));

    // the key works, and the list never shows the key
    const list = await api
      .http()
      .post('/ipm/apikey/list')
      .set('x-api-key', key)
      .set('x-orgcode', org)
      .send({})
      .expect(200);
    expect(JSON.stringify(list.body)).not.toContain(key);
    const mine = (list.body.data.items as Array<Record<string, unknown>>).find((k) => k.key_id === api_key.key_id);
    expect(mine).toBeDefined();
    expect(mine).not.toHaveProperty('key_hash');

    // last_used_at is kept (written off the request path, so poll briefly)
    let lastUsed: Date | null = null;
    for (let i = 0; i < 40 && !lastUsed; i++) {
      const rows2 = await api.app
        .get(DataSource)
        .query('SELECT last_used_at FROM api_keys WHERE key_id = $1', [api_key.key_id]);
      lastUsed = rows2[0].last_used_at as Date | null;
      if (!lastUsed) await new Promise((r) => setTimeout(r, 50));
    }
    expect(lastUsed).toBeInstanceOf(Date);

    // a key is bound to its org: another org is a 404
    await api
      .http()
      .post('/ipm/apikey/list')
      .set('x-api-key', key)
      .set('x-orgcode', uniqueOrg('x'))
      .send({})
      .expect(404);
    // and to its permissions: 403 elsewhere
    await api.http().post('/ipm/audit/list').set('x-api-key', key).set('x-orgcode', org).send({}).expect(403);

    const revoked = await api
      .http()
      .post('/ipm/apikey/revoke')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ key_id: api_key.key_id, reason: 'rotating' })
      .expect(200);
    expect(revoked.body.data).toMatchObject({ key_id: api_key.key_id, status: 'revoked' });

    const refused = await api.http().post('/ipm/apikey/list').set('x-api-key', key).set('x-orgcode', org).send({});
    expect(refused.status).toBe(401);
    expect(refused.body.error).toMatchObject({ code: 'unauthorized', message: 'API key revoked' });

    // revoked keys leave the default list but can be asked for
    const active = await api.http().post('/ipm/apikey/list').set(bearer(admin)).set('x-orgcode', org).send({});
    expect((active.body.data.items as Array<{ key_id: string }>).map((k) => k.key_id)).not.toContain(api_key.key_id);
    const all = await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ include_revoked: true });
    expect((all.body.data.items as Array<{ key_id: string }>).map((k) => k.key_id)).toContain(api_key.key_id);
  });

  it('400 on invalid input, naming the fields', async () => {
    const res = await create(admin, { name: '', permissions: ['fly'], expires_at: 'tomorrow' }).expect(400);
    const fields = (res.body.error.details as Array<{ field: string }>).map((d) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['name', 'permissions', 'expires_at']));
    await create(admin, { name: 'past', permissions: ['manage_api_keys'], expires_at: '2001-01-01T00:00:00Z' }).expect(
      400,
    );
    await api
      .http()
      .post('/ipm/apikey/revoke')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ key_id: 'nope' })
      .expect(400);
  });

  it('401 without credentials, 403 without manage_api_keys', async () => {
    await api.http().post('/ipm/apikey/create').set('x-orgcode', org).send({ name: 'x', permissions: [] }).expect(401);
    const viewer = await token(api.config, { orgs: [org], permissions: ['view_audit'] });
    await create(viewer, { name: 'x', permissions: ['view_audit'] }).expect(403);
    await api.http().post('/ipm/apikey/list').set(bearer(viewer)).set('x-orgcode', org).send({}).expect(403);
    await api
      .http()
      .post('/ipm/apikey/revoke')
      .set(bearer(viewer))
      .set('x-orgcode', org)
      .send({ key_id: 'key_01M840A8XM1E0C2FBSEF1ZYMAC' })
      .expect(403);
  });

  it('403 when granting a permission the caller lacks (no escalation)', async () => {
    const res = await create(admin, { name: 'greedy', permissions: ['operate_queues'] }).expect(403);
    expect(res.body.error.message).toContain('operate_queues');
  });

  it('another tenant’s key is a 404 and is not listed', async () => {
    const otherOrg = uniqueOrg('other');
    const otherAdmin = await token(api.config, { orgs: [otherOrg], permissions: ['manage_api_keys'] });
    const theirs = await create(otherAdmin, { name: 'theirs', permissions: ['manage_api_keys'] }, otherOrg).expect(200);
    const keyId = theirs.body.data.api_key.key_id as string;

    const revoke = await api
      .http()
      .post('/ipm/apikey/revoke')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ key_id: keyId });
    expect(revoke.status).toBe(404);
    expect(revoke.body.error.code).toBe('not_found');
    const list = await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ limit: 256 });
    expect((list.body.data.items as Array<{ key_id: string }>).map((k) => k.key_id)).not.toContain(keyId);
    // their key still works for them
    await api
      .http()
      .post('/ipm/apikey/list')
      .set('x-api-key', theirs.body.data.key)
      .set('x-orgcode', otherOrg)
      .send({})
      .expect(200);
  });

  it('an app-bound caller sees and creates only its app’s keys', async () => {
    const appOrg = uniqueOrg('apps');
    const boss = await token(api.config, { orgs: [appOrg], permissions: ['manage_api_keys'] });
    const a = await create(boss, { name: 'a', app_id: 'app_a', permissions: ['manage_api_keys'] }, appOrg).expect(200);
    await create(boss, { name: 'b', app_id: 'app_b', permissions: ['manage_api_keys'] }, appOrg).expect(200);
    const keyA = a.body.data.key as string;

    const seen = await api.http().post('/ipm/apikey/list').set('x-api-key', keyA).set('x-orgcode', appOrg).send({});
    const apps = (seen.body.data.items as Array<{ app_id: string }>).map((k) => k.app_id);
    expect(apps).toEqual(['app_a']);
    await api
      .http()
      .post('/ipm/apikey/create')
      .set('x-api-key', keyA)
      .set('x-orgcode', appOrg)
      .send({ name: 'c', app_id: 'app_b', permissions: ['manage_api_keys'] })
      .expect(403);
    const child = await api
      .http()
      .post('/ipm/apikey/create')
      .set('x-api-key', keyA)
      .set('x-orgcode', appOrg)
      .send({ name: 'c', permissions: ['manage_api_keys'] })
      .expect(200);
    expect(child.body.data.api_key.app_id).toBe('app_a');
  });

  it('pages with an opaque next_token; a forged or foreign token is a 400', async () => {
    const pageOrg = uniqueOrg('page');
    const boss = await token(api.config, { orgs: [pageOrg, org], permissions: ['manage_api_keys'] });
    for (let i = 0; i < 5; i++)
      await create(boss, { name: `k${i}`, permissions: ['manage_api_keys'] }, pageOrg).expect(200);
    const seen: string[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const res = await api
        .http()
        .post('/ipm/apikey/list')
        .set(bearer(boss))
        .set('x-orgcode', pageOrg)
        .send(next ? { limit: 2, next_token: next } : { limit: 2 })
        .expect(200);
      seen.push(...(res.body.data.items as Array<{ key_id: string }>).map((k) => k.key_id));
      next = res.body.data.next_token as string | undefined;
      pages++;
    } while (next && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
    expect([...seen].sort().reverse()).toEqual(seen);

    const first = await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(boss))
      .set('x-orgcode', pageOrg)
      .send({ limit: 2 });
    const tok = first.body.data.next_token as string;
    const forged = `${tok.slice(0, -3)}${tok.endsWith('A') ? 'B' : 'A'}xx`;
    const bad = await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(boss))
      .set('x-orgcode', pageOrg)
      .send({ limit: 2, next_token: forged })
      .expect(400);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'next_token' })]);
    await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(boss))
      .set('x-orgcode', org)
      .send({ limit: 2, next_token: tok })
      .expect(400);
    // limit is clamped, not refused
    const big = await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(boss))
      .set('x-orgcode', pageOrg)
      .send({ limit: 100000 })
      .expect(200);
    expect(big.body.data.items).toHaveLength(5);
    expect(big.body.data.next_token).toBeUndefined();
    await api
      .http()
      .post('/ipm/apikey/list')
      .set(bearer(boss))
      .set('x-orgcode', pageOrg)
      .send({ limit: 'ten' })
      .expect(400);
  });
});
