import { DataSource } from 'typeorm';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

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
  describe('keys made by keys', () => {
    const byKey = (key: string, body: Record<string, unknown>) =>
      api.http().post('/ipm/apikey/create').set('x-api-key', key).set('x-orgcode', org).send(body);
    const revoke = (key_id: string) =>
      api.http().post('/ipm/apikey/revoke').set(bearer(admin)).set('x-orgcode', org).send({ key_id }).expect(200);
    const status = async (keyId: string): Promise<string> => {
      const res = await api
        .http()
        .post('/ipm/apikey/list')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .send({ include_revoked: true, limit: 256 })
        .expect(200);
      return (res.body.data.items as Array<{ key_id: string; status: string }>).find((k) => k.key_id === keyId)!.status;
    };
    const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
    type Made = { key: string; api_key: { key_id: string; expires_at: string | null; created_by: string } };

    it('end no later than their creator: later is a 422 naming expires_at, none inherits the creator’s', async () => {
      const expiresAt = new Date(Date.parse(inHours(1)) - (Date.now() % 1000)).toISOString();
      const parent = await create(admin, { name: 'hourly', permissions: ['manage_api_keys'], expires_at: expiresAt })
        .expect(200)
        .then((r) => r.body.data as Made);

      const later = await byKey(parent.key, {
        name: 'forever?',
        permissions: ['manage_api_keys'],
        expires_at: inHours(2),
      });
      expect(later.status).toBe(422);
      expect(later.body.error).toMatchObject({
        code: 'unprocessable',
        details: [{ field: 'expires_at', message: expect.stringContaining(parent.api_key.expires_at!) as string }],
      });

      const inherited = await byKey(parent.key, { name: 'no expiry asked', permissions: ['manage_api_keys'] }).expect(
        200,
      );
      expect(inherited.body.data.api_key).toMatchObject({
        expires_at: parent.api_key.expires_at,
        created_by: parent.api_key.key_id,
      });
      const sooner = inHours(0.5);
      const shorter = await byKey(parent.key, {
        name: 'shorter',
        permissions: ['manage_api_keys'],
        expires_at: sooner,
      });
      expect(shorter.status).toBe(200);
      expect(shorter.body.data.api_key.expires_at).toBe(new Date(sooner).toISOString());
      // The same instant is allowed; a grandchild is capped by the chain alike.
      const same = await byKey(parent.key, {
        name: 'same',
        permissions: ['manage_api_keys'],
        expires_at: parent.api_key.expires_at,
      })
        .expect(200)
        .then((r) => r.body.data as Made);
      await byKey(same.key, { name: 'grandchild', permissions: ['manage_api_keys'], expires_at: inHours(3) }).expect(
        422,
      );

      // A key that never expires (or a user) may create keys that never expire.
      const forever = await create(admin, { name: 'forever', permissions: ['manage_api_keys'] })
        .expect(200)
        .then((r) => r.body.data as Made);
      const child = await byKey(forever.key, { name: 'child', permissions: ['manage_api_keys'] }).expect(200);
      expect(child.body.data.api_key.expires_at).toBeNull();
    });

    it('revoking a key revokes every key below it (children, grandchildren), and nothing else', async () => {
      const made = async (body: Record<string, unknown>, by?: string): Promise<Made> =>
        (by ? await byKey(by, body).expect(200) : await create(admin, body).expect(200)).body.data as Made;
      const perms = { permissions: ['manage_api_keys'] };
      const root = await made({ name: 'root', ...perms });
      const child = await made({ name: 'child', ...perms }, root.key);
      const grandchild = await made({ name: 'grandchild', ...perms }, child.key);
      const sibling = await made({ name: 'sibling', ...perms }, root.key);
      const unrelated = await made({ name: 'unrelated', ...perms });

      const res = await revoke(child.api_key.key_id);
      expect(res.body.data).toMatchObject({ key_id: child.api_key.key_id, status: 'revoked' });
      expect(await status(grandchild.api_key.key_id)).toBe('revoked');
      for (const k of [root, sibling, unrelated]) expect(await status(k.api_key.key_id)).toBe('active');
      const refused = await byKey(grandchild.key, { name: 'x', ...perms });
      expect(refused.status).toBe(401);
      expect(refused.body.error.message).toBe('API key revoked');

      // The audit log names the key each cascade came from.
      const audit = await api
        .http()
        .post('/ipm/audit/list')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .send({ target_id: grandchild.api_key.key_id })
        .expect(200);
      const revokes = (audit.body.data.items as Array<{ action: string }>).filter((a) => a.action === 'apikey.revoke');
      expect(revokes).toEqual([
        expect.objectContaining({
          action: 'apikey.revoke',
          target_id: grandchild.api_key.key_id,
          metadata: expect.objectContaining({ revoked_with: child.api_key.key_id }) as unknown,
        }),
      ]);

      await revoke(root.api_key.key_id);
      expect(await status(sibling.api_key.key_id)).toBe('revoked');
      expect(await status(unrelated.api_key.key_id)).toBe('active');
    });

    it('revoking an already revoked key still revokes what it created (keys from before cascades)', async () => {
      const root = await create(admin, { name: 'old root', permissions: ['manage_api_keys'] })
        .expect(200)
        .then((r) => r.body.data as Made);
      const child = await byKey(root.key, { name: 'old child', permissions: ['manage_api_keys'] })
        .expect(200)
        .then((r) => r.body.data as Made);
      // As a revoke before this release left it: the root revoked, its child still active.
      await api.app
        .get(DataSource)
        .query(`UPDATE api_keys SET revoked_at = now(), revoked_by = 'user_1' WHERE key_id = $1`, [
          root.api_key.key_id,
        ]);
      expect(await status(child.api_key.key_id)).toBe('active');
      await revoke(root.api_key.key_id);
      expect(await status(child.api_key.key_id)).toBe('revoked');
    });
  });
});
