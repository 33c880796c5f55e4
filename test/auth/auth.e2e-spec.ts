import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

const LIST = '/ipm/apikey/list';
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

function expectError(body: Record<string, unknown>, code: string) {
  expect(body).toMatchObject({ success: false, error: { code }, build: expect.any(Object), stats: expect.any(Object) });
}

describe('the guard (HS256)', () => {
  let api: TestApi;
  const org = uniqueOrg('auth');
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('401 without credentials', async () => {
    const res = await api.http().post(LIST).set('x-orgcode', org).send({}).expect(401);
    expectError(res.body, 'unauthorized');
  });

  it('401 with a bad signature', async () => {
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'], secret: 'x'.repeat(40) });
    const res = await api.http().post(LIST).set(bearer(jwt)).set('x-orgcode', org).send({}).expect(401);
    expectError(res.body, 'unauthorized');
  });

  it('401 with an expired token', async () => {
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'], expiresIn: -120 });
    const res = await api.http().post(LIST).set(bearer(jwt)).set('x-orgcode', org).send({}).expect(401);
    expect(res.body.error.message).toMatch(/expired/i);
  });

  it('401 with the wrong audience', async () => {
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'], audience: 'someone-else' });
    await api.http().post(LIST).set(bearer(jwt)).set('x-orgcode', org).send({}).expect(401);
  });

  it('401 with a malformed Authorization header or a garbage token', async () => {
    await api.http().post(LIST).set('authorization', 'Basic abc').set('x-orgcode', org).send({}).expect(401);
    await api.http().post(LIST).set(bearer('not.a.jwt')).set('x-orgcode', org).send({}).expect(401);
  });

  it('401 with an unknown API key', async () => {
    const res = await api
      .http()
      .post(LIST)
      .set('x-api-key', `ipm_${'A'.repeat(40)}`)
      .set('x-orgcode', org)
      .send({})
      .expect(401);
    expectError(res.body, 'unauthorized');
  });

  it('400 when x-orgcode is missing on a tenant route', async () => {
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'] });
    const res = await api.http().post(LIST).set(bearer(jwt)).send({}).expect(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'x-orgcode' })]);
  });

  it('404 when the org is not among the caller’s (same answer as an unknown org)', async () => {
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'] });
    const res = await api.http().post(LIST).set(bearer(jwt)).set('x-orgcode', uniqueOrg('other')).send({}).expect(404);
    expectError(res.body, 'not_found');
  });

  it('403 when the permission is missing', async () => {
    const jwt = await token(api.config, { orgs: [org], permissions: ['view_audit'] });
    const res = await api.http().post(LIST).set(bearer(jwt)).set('x-orgcode', org).send({}).expect(403);
    expectError(res.body, 'forbidden');
    expect(res.body.error.message).toContain('manage_api_keys');
  });

  it('400 when request_context.orgcode differs from x-orgcode', async () => {
    const jwt = await token(api.config, { orgs: [org, 'elsewhere'], permissions: ['manage_api_keys'] });
    const res = await api
      .http()
      .post(LIST)
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ request_context: { orgcode: 'elsewhere' } })
      .expect(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'request_context.orgcode' })]);
    await api
      .http()
      .post(LIST)
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ request_context: { orgcode: org } })
      .expect(200);
  });

  it('200 with a valid token, org and permission', async () => {
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_api_keys'] });
    const res = await api.http().post(LIST).set(bearer(jwt)).set('x-orgcode', org).send({}).expect(200);
    expect(res.body).toMatchObject({ success: true, data: { items: [] }, stats: { call: 'POST /apikey/list' } });
  });
});

describe('the guard (RS256 via JWKS)', () => {
  let api: TestApi;
  let jwks: Server;
  let privateKey: KeyPair['privateKey'];
  const saved = { ...process.env };

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    process.env.JWT_ALGORITHM = 'RS256';
    process.env.JWT_JWKS_URL = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    api = await startApi();
  });
  afterAll(async () => {
    await api.close();
    jwks.close();
    process.env = saved;
  });

  const sign = (claims: Record<string, unknown>, key: KeyPair['privateKey']) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('idp-user')
      .setAudience(api.config.JWT_AUDIENCE)
      .setExpirationTime('5m')
      .sign(key);

  it('accepts a token signed by a key in the JWKS', async () => {
    const jwt = await sign({ orgs: ['acme'], permissions: ['manage_api_keys'] }, privateKey);
    await api.http().post(LIST).set(bearer(jwt)).set('x-orgcode', 'acme').send({}).expect(200);
  });

  it('refuses a token signed by another key, and an HS256 token', async () => {
    const other = await generateKeyPair('RS256');
    const forged = await sign({ orgs: ['acme'], permissions: ['manage_api_keys'] }, other.privateKey);
    await api.http().post(LIST).set(bearer(forged)).set('x-orgcode', 'acme').send({}).expect(401);
    const hs = await token(api.config, { orgs: ['acme'], permissions: ['manage_api_keys'] });
    await api.http().post(LIST).set(bearer(hs)).set('x-orgcode', 'acme').send({}).expect(401);
  });
});
