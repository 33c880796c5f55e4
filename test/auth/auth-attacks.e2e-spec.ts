import { createHmac, generateKeyPairSync, KeyObject, randomBytes, sign as rsaSign } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { startApi, TestApi, uniqueOrg } from '../support/api';

/**
 * Hostile credentials against the real api (issue 9, point 5): forged, confused, stale and
 * malformed JWTs under HS256 and under RS256 (PEM and JWKS), tampered next_tokens, and revoked or
 * look-alike API keys. Every refusal is a 401 (credentials) or a 400 (next_token) in the envelope.
 * Allowed clock skew: 5 s (JwtVerifier's clockTolerance), on exp and nbf alike.
 */

const LIST = '/ipm/apikey/list';
const ISSUER = 'https://idp.example.test/';
const SKEW_S = 5;

type Json = Record<string, unknown>;

const b64 = (value: Json | string): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact JWS over exactly this header and payload (no library between us and the bytes). */
function hs256(header: Json, payload: Json, secret: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function rs256(header: Json, payload: Json, key: KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

const now = (): number => Math.floor(Date.now() / 1000);

function expectEnvelopeError(body: Json, code: string): void {
  expect(body).toMatchObject({ success: false, error: { code }, build: expect.any(Object), stats: expect.any(Object) });
}

/** Claims every configuration accepts (issuer set, five minutes to live): the attacks start from them. */
function acceptedClaims(api: TestApi, org: string, extra: Json = {}): Json {
  return {
    sub: 'attacker',
    orgs: [org],
    permissions: ['manage_api_keys'],
    aud: api.config.JWT_AUDIENCE,
    iss: ISSUER,
    iat: now() - 10,
    exp: now() + 300,
    ...extra,
  };
}

/** The token is refused: a 401 in the envelope. */
async function expectRefused(api: TestApi, org: string, jwt: string): Promise<void> {
  const res = await api.http().post(LIST).set('authorization', `Bearer ${jwt}`).set('x-orgcode', org).send({});
  expect(res.status).toBe(401);
  expectEnvelopeError(res.body, 'unauthorized');
}

interface Setup {
  api: TestApi;
  org: string;
  /** Claims the api accepts: the attacks start from them. */
  claims: (extra?: Json) => Json;
  /** A token the api accepts for these claims and header. */
  genuine: (payload: Json, header?: Json) => string;
}

/** The attacks that every configuration must refuse. */
function commonAttacks(setup: () => Setup): void {
  const call = (jwt: string) => {
    const { api, org } = setup();
    return api.http().post(LIST).set('authorization', `Bearer ${jwt}`).set('x-orgcode', org).send({});
  };
  const refused = async (jwt: string, message?: RegExp): Promise<void> => {
    const res = await call(jwt);
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 401 });
    expectEnvelopeError(res.body, 'unauthorized');
    if (message) expect(res.body.error.message).toMatch(message);
  };

  it('accepts the genuine token (the baseline the attacks start from)', async () => {
    const { claims, genuine } = setup();
    await call(genuine(claims())).expect(200);
  });

  it('refuses alg "none" (no signature, a kept signature, any spelling)', async () => {
    const { claims, genuine } = setup();
    const payload = claims();
    const signature = genuine(payload).split('.')[2];
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`;
      await refused(`${unsigned}.`);
      await refused(`${unsigned}.${signature}`);
    }
    await refused(`${b64({ typ: 'JWT' })}.${b64(payload)}.${signature}`); // no alg at all
  });

  it('refuses an expired token, and a token not valid yet beyond the 5 s skew', async () => {
    const { claims, genuine } = setup();
    await refused(genuine(claims({ exp: now() - 60 })), /expired/i);
    await refused(genuine(claims({ exp: now() - SKEW_S - 5, iat: now() - 600 })), /expired/i);
    await refused(genuine(claims({ nbf: now() + 120 })), /nbf/);
    await refused(genuine(claims({ nbf: now() + SKEW_S + 10 })), /nbf/);
    // within the skew it is accepted: a clock a second or two ahead of ours is not an attack
    await call(genuine(claims({ nbf: now() + 2 }))).expect(200);
  });

  it('refuses a token without exp: every token must expire', async () => {
    const { claims, genuine } = setup();
    const payload = claims();
    delete payload.exp;
    await refused(genuine(payload), /exp/);
  });

  it('refuses a wrong or missing iss, and a wrong or missing aud', async () => {
    const { claims, genuine } = setup();
    await refused(genuine(claims({ iss: 'https://evil.example.test/' })), /iss/);
    await refused(genuine(claims({ iss: ISSUER.slice(0, -1) })), /iss/); // no trailing slash: another issuer
    const noIss = claims();
    delete noIss.iss;
    await refused(genuine(noIss), /iss/);
    await refused(genuine(claims({ aud: 'someone-else' })), /aud/);
    await refused(genuine(claims({ aud: ['someone-else', 'another'] })), /aud/);
    const noAud = claims();
    delete noAud.aud;
    await refused(genuine(noAud), /aud/);
  });

  it('refuses a tampered payload carrying the original signature', async () => {
    const { claims, genuine, org } = setup();
    const [header, , signature] = genuine(claims()).split('.');
    const escalated = claims({ permissions: ['manage_api_keys', 'view_audit', 'operate_queues'] });
    await refused(`${header}.${b64(escalated)}.${signature}`);
    await refused(`${header}.${b64(claims({ orgs: [org, 'victim-org'] }))}.${signature}`);
    await refused(`${header}.${b64(claims({ exp: now() + 86_400 * 365 }))}.${signature}`);
    // one flipped bit of the signature
    const sig = Buffer.from(signature, 'base64url');
    sig[0] ^= 1;
    await refused(`${genuine(claims()).split('.').slice(0, 2).join('.')}.${sig.toString('base64url')}`);
  });

  it('refuses unknown crit header parameters', async () => {
    const { claims, genuine } = setup();
    await refused(genuine(claims(), { crit: ['x-ipm-ext'], 'x-ipm-ext': true }));
    await refused(genuine(claims(), { crit: ['b64'], b64: false }));
  });

  it('refuses claims of the wrong type; unknown permission names grant nothing', async () => {
    const { claims, genuine, api, org } = setup();
    await refused(genuine(claims({ orgs: org })), /orgs/);
    await refused(genuine(claims({ orgs: [org, 7] })), /orgs/);
    await refused(genuine(claims({ permissions: 'manage_api_keys' })), /permissions/);
    await refused(genuine(claims({ permissions: { manage_api_keys: true } })), /permissions/);
    await refused(genuine(claims({ sub: 42 })));
    await refused(genuine(claims({ sub: '' })));
    await refused(genuine(claims({ exp: String(now() + 600) })));
    await refused(genuine(claims({ app_id: 12 })), /app_id/);
    // names that are not permissions are dropped: the route's own permission is still missing
    const unknown = genuine(claims({ permissions: ['root', 'admin', '*', 'MANAGE_API_KEYS', 'manage_api_keys '] }));
    const res = await api
      .http()
      .post(LIST)
      .set('authorization', `Bearer ${unknown}`)
      .set('x-orgcode', org)
      .send({})
      .expect(403);
    expectEnvelopeError(res.body, 'forbidden');
  });

  it('huge or malformed tokens: 401, or 431 past the header limit; never a 500', async () => {
    const { claims, genuine, api, org } = setup();
    await refused(genuine(claims({ pad: 'x'.repeat(6_000) })).replace(/.$/, '0') + 'A');
    await refused(`${b64({ alg: 'HS256' })}.${'A'.repeat(12_000)}.${'B'.repeat(43)}`);
    await refused('a.b');
    await refused('a.b.c.d.e');
    await refused(`${b64('not json')}.${b64(claims())}.sig`);
    await refused(`${b64({ alg: 'HS256' })}.${b64('[1,2,3]')}.sig`);
    const huge = await api
      .http()
      .post(LIST)
      .set('authorization', `Bearer ${'A'.repeat(200_000)}`)
      .set('x-orgcode', org)
      .send({})
      .then(
        (r) => r.status,
        (err: { code?: string }) => err.code ?? 'closed', // the server may close the socket after a 431
      );
    expect([401, 413, 431, 'ECONNRESET', 'EPIPE', 'closed']).toContain(huge);
    // and the api is still fine afterwards
    await call(genuine(claims())).expect(200);
  });
}

describe('JWT attacks under HS256 (JWT_ISSUER set)', () => {
  let api: TestApi;
  const org = uniqueOrg('atk-hs');
  const saved = { ...process.env };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  beforeAll(async () => {
    process.env.JWT_ALGORITHM = 'HS256';
    process.env.JWT_ISSUER = ISSUER;
    api = await startApi();
  });
  afterAll(async () => {
    await api.close();
    process.env = saved;
  });

  const claims = (extra: Json = {}): Json => acceptedClaims(api, org, extra);
  const genuine = (payload: Json, header: Json = {}): string =>
    hs256({ alg: 'HS256', typ: 'JWT', ...header }, payload, api.config.JWT_SECRET);
  commonAttacks(() => ({ api, org, claims, genuine }));

  const refused = (jwt: string): Promise<void> => expectRefused(api, org, jwt);

  it('refuses an RS256 token (any key) and the right secret under another HMAC algorithm', async () => {
    await refused(rs256({ alg: 'RS256', typ: 'JWT' }, claims(), rsa.privateKey));
    const input = `${b64({ alg: 'HS512', typ: 'JWT' })}.${b64(claims())}`;
    const hs512 = createHmac('sha512', api.config.JWT_SECRET).update(input).digest('base64url');
    await refused(`${input}.${hs512}`);
    await refused(hs256({ alg: 'HS256' }, claims(), `${api.config.JWT_SECRET}x`));
    await refused(hs256({ alg: 'HS256' }, claims(), api.config.JWT_SECRET.slice(0, -1)));
  });

  it('a kid, jku or embedded jwk header changes nothing: the configured secret is the only key', async () => {
    const attackerSecret = randomBytes(32);
    const jwk = { kty: 'oct', k: attackerSecret.toString('base64url') };
    await refused(hs256({ alg: 'HS256', jwk, kid: 'attacker' }, claims(), attackerSecret));
    await refused(hs256({ alg: 'HS256', jku: 'http://127.0.0.1:1/jwks.json' }, claims(), attackerSecret));
    // the genuine secret with a kid that names nothing is still the genuine secret
    await api
      .http()
      .post(LIST)
      .set('authorization', `Bearer ${genuine(claims(), { kid: 'no-such-key' })}`)
      .set('x-orgcode', org)
      .send({})
      .expect(200);
  });
});

describe('JWT attacks under RS256 with JWT_PUBLIC_KEY (JWT_ISSUER set)', () => {
  let api: TestApi;
  const org = uniqueOrg('atk-pem');
  const saved = { ...process.env };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  beforeAll(async () => {
    process.env.JWT_ALGORITHM = 'RS256';
    process.env.JWT_PUBLIC_KEY = publicPem;
    process.env.JWT_ISSUER = ISSUER;
    delete process.env.JWT_JWKS_URL;
    api = await startApi();
  });
  afterAll(async () => {
    await api.close();
    process.env = saved;
  });

  const claims = (extra: Json = {}): Json => acceptedClaims(api, org, extra);
  const genuine = (payload: Json, header: Json = {}): string =>
    rs256({ alg: 'RS256', typ: 'JWT', ...header }, payload, rsa.privateKey);
  commonAttacks(() => ({ api, org, claims, genuine }));

  const refused = (jwt: string): Promise<void> => expectRefused(api, org, jwt);

  it('refuses HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    const der = rsa.publicKey.export({ type: 'spki', format: 'der' });
    for (const secret of [publicPem, publicPem.trim(), der, api.config.JWT_SECRET]) {
      await refused(hs256({ alg: 'HS256', typ: 'JWT' }, claims(), secret));
    }
  });

  it('refuses a token of another RSA key, and the right key under another algorithm', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await refused(
      genuine(claims()).replace(/\.[^.]+$/, '') +
        '.' +
        rs256({ alg: 'RS256' }, claims(), other.privateKey).split('.')[2],
    );
    await refused(rs256({ alg: 'RS256', typ: 'JWT' }, claims(), other.privateKey));
    const input = `${b64({ alg: 'RS512', typ: 'JWT' })}.${b64(claims())}`;
    await refused(`${input}.${rsaSign('sha512', Buffer.from(input), rsa.privateKey).toString('base64url')}`);
  });

  it('refuses a token that brings its own key (embedded jwk, jku)', async () => {
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = attacker.publicKey.export({ format: 'jwk' });
    await refused(rs256({ alg: 'RS256', jwk }, claims(), attacker.privateKey));
    await refused(rs256({ alg: 'RS256', jku: 'http://127.0.0.1:1/jwks.json' }, claims(), attacker.privateKey));
  });
});

describe('JWT attacks under RS256 with JWT_JWKS_URL (JWT_ISSUER set)', () => {
  let api: TestApi;
  let jwks: Server;
  const org = uniqueOrg('atk-jwks');
  const saved = { ...process.env };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
  let fetches = 0;

  beforeAll(async () => {
    jwks = createServer((_, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    process.env.JWT_ALGORITHM = 'RS256';
    process.env.JWT_JWKS_URL = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    process.env.JWT_ISSUER = ISSUER;
    delete process.env.JWT_PUBLIC_KEY;
    api = await startApi();
  });
  afterAll(async () => {
    await api.close();
    jwks.close();
    process.env = saved;
  });

  const claims = (extra: Json = {}): Json => acceptedClaims(api, org, extra);
  const genuine = (payload: Json, header: Json = {}): string =>
    rs256({ alg: 'RS256', typ: 'JWT', kid: 'k1', ...header }, payload, rsa.privateKey);
  commonAttacks(() => ({ api, org, claims, genuine }));

  const refused = (jwt: string): Promise<void> => expectRefused(api, org, jwt);

  it('refuses a kid that names no key of the JWKS, and a bad kid does not make it refetch endlessly', async () => {
    const before = fetches;
    for (let i = 0; i < 5; i++) await refused(genuine(claims(), { kid: `nowhere-${i}` }));
    // jose refetches on an unknown kid at most once per 30 s cooldown
    expect(fetches - before).toBeLessThanOrEqual(1);
  });

  it('refuses HS256 signed with the JWKS public key (PEM or JWK text) as the HMAC secret', async () => {
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await refused(hs256({ alg: 'HS256', kid: 'k1' }, claims(), pem));
    await refused(hs256({ alg: 'HS256', kid: 'k1' }, claims(), JSON.stringify(jwk)));
    await refused(hs256({ alg: 'HS256', kid: 'k1' }, claims(), api.config.JWT_SECRET));
  });

  it('refuses a token that brings its own key (embedded jwk with the known kid)', async () => {
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const theirs = { ...attacker.publicKey.export({ format: 'jwk' }), kid: 'k1' };
    await refused(rs256({ alg: 'RS256', kid: 'k1', jwk: theirs }, claims(), attacker.privateKey));
  });
});

describe('tampered next_token: a 400 naming next_token', () => {
  let api: TestApi;
  const org = uniqueOrg('atk-page');
  const otherOrg = uniqueOrg('atk-page2');
  const saved = { ...process.env };
  let jwt: string;

  beforeAll(async () => {
    process.env.JWT_ALGORITHM = 'HS256';
    delete process.env.JWT_ISSUER;
    api = await startApi();
    jwt = hs256(
      { alg: 'HS256' },
      {
        sub: 'pager',
        orgs: [org, otherOrg],
        permissions: ['manage_api_keys', 'view_audit'],
        aud: api.config.JWT_AUDIENCE,
        exp: now() + 600,
      },
      api.config.JWT_SECRET,
    );
    for (const orgcode of [org, org, org, otherOrg, otherOrg]) {
      await post('/ipm/apikey/create', { name: 'k', permissions: ['manage_api_keys'] }, orgcode).expect(200);
    }
  });
  afterAll(async () => {
    await api.close();
    process.env = saved;
  });

  const post = (route: string, body: Json, orgcode = org) =>
    api.http().post(route).set('authorization', `Bearer ${jwt}`).set('x-orgcode', orgcode).send(body);

  const firstToken = async (route: string, orgcode = org, filters: Json = {}): Promise<string> => {
    const res = await post(route, { limit: 1, ...filters }, orgcode).expect(200);
    expect(typeof res.body.data.next_token).toBe('string');
    return res.body.data.next_token as string;
  };

  const rejected = async (next_token: unknown, body: Json = {}, route = LIST): Promise<void> => {
    const res = await post(route, { limit: 1, ...body, next_token });
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 400 });
    expectEnvelopeError(res.body, 'validation_failed');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'next_token' })]));
  };

  it('the genuine token pages on', async () => {
    const next = await firstToken(LIST);
    const res = await post(LIST, { limit: 1, next_token: next }).expect(200);
    expect(res.body.data.items).toHaveLength(1);
  });

  it('refuses flipped bytes, truncation, a swapped MAC and junk', async () => {
    const next = await firstToken(LIST);
    const [payload, mac] = next.split('.');
    const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    await rejected(`${flip(payload, 3)}.${mac}`);
    await rejected(`${flip(payload, payload.length - 2)}.${mac}`);
    await rejected(`${payload}.${flip(mac, 0)}`);
    await rejected(next.slice(0, -1));
    await rejected(next.slice(0, next.indexOf('.')));
    await rejected(`${payload}.`);
    await rejected(`.${mac}`);
    await rejected(`${next}=`);
    await rejected(`${next}.${mac}`);
    // a cursor rewritten to skip ahead, re-encoded, with the old MAC
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Json;
    await rejected(`${b64({ ...body, c: ['key_00000000000000000000000000'] })}.${mac}`);
    await rejected('x'.repeat(5000));
    await rejected('');
  });

  it('refuses a token of another tenant, another list, or other filters', async () => {
    await rejected(await firstToken(LIST, otherOrg));
    await rejected(await firstToken('/ipm/audit/list'));
    await rejected(await firstToken(LIST), { include_revoked: true });
    // and the other way round: an apikey.list token on audit/list
    await rejected(await firstToken(LIST), {}, '/ipm/audit/list');
  });

  it('refuses a next_token that is not a string', async () => {
    for (const value of [42, true, ['a.b'], { v: 1 }]) await rejected(value);
  });
});

describe('API keys: revoked, look-alike, malformed', () => {
  let api: TestApi;
  const org = uniqueOrg('atk-key');
  const saved = { ...process.env };
  let jwt: string;

  beforeAll(async () => {
    process.env.JWT_ALGORITHM = 'HS256';
    delete process.env.JWT_ISSUER;
    api = await startApi();
    jwt = hs256(
      { alg: 'HS256' },
      {
        sub: 'key-admin',
        orgs: [org],
        permissions: ['manage_api_keys'],
        aud: api.config.JWT_AUDIENCE,
        exp: now() + 600,
      },
      api.config.JWT_SECRET,
    );
  });
  afterAll(async () => {
    await api.close();
    process.env = saved;
  });

  const createKey = async (): Promise<{ key: string; key_id: string }> => {
    const res = await api
      .http()
      .post('/ipm/apikey/create')
      .set('authorization', `Bearer ${jwt}`)
      .set('x-orgcode', org)
      .send({ name: 'attack target', permissions: ['manage_api_keys'] })
      .expect(200);
    return { key: res.body.data.key as string, key_id: res.body.data.api_key.key_id as string };
  };
  const withKey = (key: string) => api.http().post(LIST).set('x-api-key', key).set('x-orgcode', org).send({});
  const refused = async (key: string, message = /API key/): Promise<void> => {
    const res = await withKey(key);
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 401 });
    expectEnvelopeError(res.body, 'unauthorized');
    expect(res.body.error.message).toMatch(message);
  };

  it('a revoked key is refused on the very next request (no cache window)', async () => {
    const { key, key_id } = await createKey();
    await withKey(key).expect(200);
    await withKey(key).expect(200);
    await api
      .http()
      .post('/ipm/apikey/revoke')
      .set('x-api-key', key)
      .set('x-orgcode', org)
      .send({ key_id })
      .expect(200);
    await refused(key, /revoked/);
  });

  it('a key whose visible prefix matches but whose secret differs is refused', async () => {
    const { key } = await createKey();
    const body = key.slice(12);
    const last = key[key.length - 1] === 'A' ? 'B' : 'A';
    await refused(key.slice(0, -1) + last);
    await refused(key.slice(0, 12) + randomBytes(30).toString('base64url').slice(0, body.length));
    await refused(key.slice(0, 12) + body.split('').reverse().join(''));
    await withKey(key).expect(200);
  });

  it('malformed keys are refused before any lookup: case, padding, whitespace inside, length', async () => {
    const { key } = await createKey();
    await refused(key.toUpperCase());
    await refused(`${key}=`);
    await refused(`${key}x`);
    await refused(key.slice(0, -1));
    await refused(`${key.slice(0, 20)} ${key.slice(21)}`);
    await refused('ipm_');
    await refused('x'.repeat(4000));
    // the stored hash itself is not a key
    const [row] = await api.app
      .get(DataSource)
      .query('SELECT key_hash FROM api_keys WHERE prefix = $1', [key.slice(0, 12)]);
    await refused(row.key_hash as string);
  });

  it('a JWT in x-api-key, or a key as a Bearer token, is refused', async () => {
    const { key } = await createKey();
    await refused(jwt);
    const res = await api
      .http()
      .post(LIST)
      .set('authorization', `Bearer ${key}`)
      .set('x-orgcode', org)
      .send({})
      .expect(401);
    expectEnvelopeError(res.body, 'unauthorized');
  });
});
