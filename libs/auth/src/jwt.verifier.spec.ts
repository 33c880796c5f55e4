import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { AppConfig, AppError, loadConfig } from '@ipm/core';
import { JwtVerifier } from './jwt.verifier';
import { Permission } from './permissions';

const SECRET = 'unit-test-jwt-secret-0123456789abcdef';
const hsConfig = (extra: NodeJS.ProcessEnv = {}): AppConfig => loadConfig({ JWT_SECRET: SECRET, ...extra });
const now = (): number => Math.floor(Date.now() / 1000);

/** A token signed with HS256 and arbitrary claims, for cases `sign` will not produce. */
function hsToken(
  claims: Record<string, unknown>,
  opts: { sub?: string; aud?: string; exp?: number | null; iss?: string; secret?: string } = {},
): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.sub !== '') jwt = jwt.setSubject(opts.sub ?? 'user-1');
  jwt = jwt.setAudience(opts.aud ?? 'ipm');
  if (opts.exp !== null) jwt = jwt.setExpirationTime(opts.exp ?? now() + 600);
  if (opts.iss) jwt = jwt.setIssuer(opts.iss);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

async function expectUnauthorized(promise: Promise<unknown>): Promise<AppError> {
  let err: unknown;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AppError);
  expect(err).toMatchObject({ status: 401, code: 'unauthorized' });
  return err as AppError;
}

describe('JwtVerifier (HS256)', () => {
  const verifier = new JwtVerifier(hsConfig());

  it('sign -> verify gives the principal', async () => {
    const token = await verifier.sign({
      sub: 'user-42',
      orgs: ['acme', 'globex'],
      permissions: [Permission.ManageWebhooks, Permission.ViewAudit],
      app_id: 'app-7',
    });
    await expect(verifier.verify(token)).resolves.toEqual({
      kind: 'user',
      actor_id: 'user-42',
      orgs: ['acme', 'globex'],
      permissions: ['manage_webhooks', 'view_audit'],
      app_id: 'app-7',
    });
  });

  it('without app_id the principal has app_id null', async () => {
    const token = await verifier.sign({ sub: 'u', orgs: ['acme'], permissions: [] });
    const principal = await verifier.verify(token);
    expect(principal.app_id).toBeNull();
    expect(principal.permissions).toEqual([]);
  });

  it('signs with the configured audience and issuer', async () => {
    const withIssuer = new JwtVerifier(hsConfig({ JWT_ISSUER: 'https://idp.test', JWT_AUDIENCE: 'ipm-api' }));
    const token = await withIssuer.sign({ sub: 'u', orgs: ['acme'], permissions: [], expiresIn: '5m' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    expect(claims).toMatchObject({ iss: 'https://idp.test', aud: 'ipm-api', sub: 'u' });
    expect(claims.exp - claims.iat).toBe(300);
    await expect(withIssuer.verify(token)).resolves.toMatchObject({ actor_id: 'u' });
    await expectUnauthorized(verifier.verify(token));
  });

  it('defaults to a 12 hour lifetime', async () => {
    const token = await verifier.sign({ sub: 'u', orgs: ['acme'], permissions: [] });
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    expect(claims.exp - claims.iat).toBe(12 * 3600);
  });

  it('drops unknown permissions', async () => {
    const token = await hsToken({
      orgs: ['acme'],
      permissions: ['manage_webhooks', 'be_root', 'VIEW_AUDIT', 'view_kpis'],
    });
    const principal = await verifier.verify(token);
    expect(principal.permissions).toEqual(['manage_webhooks', 'view_kpis']);
  });

  it('accepts a token without permissions as having none', async () => {
    const principal = await verifier.verify(await hsToken({ orgs: ['acme'] }));
    expect(principal.permissions).toEqual([]);
  });

  it('refuses a token signed with another secret', async () => {
    const other = new JwtVerifier(hsConfig({ JWT_SECRET: 'another-secret-of-more-than-32-chars!!' }));
    const token = await other.sign({ sub: 'u', orgs: ['acme'], permissions: [] });
    await expectUnauthorized(verifier.verify(token));
  });

  it('refuses an expired token', async () => {
    const token = await hsToken({ orgs: ['acme'], permissions: [] }, { exp: now() - 60 });
    const err = await expectUnauthorized(verifier.verify(token));
    expect(err.message).toBe('Token expired');
  });

  it('tolerates 5 s of clock skew', async () => {
    const token = await hsToken({ orgs: ['acme'], permissions: [] }, { exp: now() - 2 });
    await expect(verifier.verify(token)).resolves.toMatchObject({ actor_id: 'user-1' });
  });

  it('refuses a token without exp', async () => {
    await expectUnauthorized(verifier.verify(await hsToken({ orgs: ['acme'] }, { exp: null })));
  });

  it('refuses a token without sub', async () => {
    await expectUnauthorized(verifier.verify(await hsToken({ orgs: ['acme'] }, { sub: '' })));
  });

  it('refuses a sub that is not a non-empty string (it would become the audited actor id)', async () => {
    for (const sub of [42, { id: 'user-1' }, ['user-1'], '', true]) {
      const err = await expectUnauthorized(verifier.verify(await hsToken({ orgs: ['acme'], sub }, { sub: '' })));
      expect(err.message).toMatch(/sub/);
    }
  });

  it('refuses a wrong audience', async () => {
    const token = await hsToken({ orgs: ['acme'], permissions: [] }, { aud: 'another-service' });
    const err = await expectUnauthorized(verifier.verify(token));
    expect(err.message).toMatch(/aud/);
  });

  it('refuses a missing or wrong issuer when one is configured', async () => {
    const strict = new JwtVerifier(hsConfig({ JWT_ISSUER: 'https://idp.test' }));
    await expectUnauthorized(strict.verify(await hsToken({ orgs: ['acme'] })));
    await expectUnauthorized(strict.verify(await hsToken({ orgs: ['acme'] }, { iss: 'https://evil.test' })));
    await expect(strict.verify(await hsToken({ orgs: ['acme'] }, { iss: 'https://idp.test' }))).resolves.toMatchObject({
      orgs: ['acme'],
    });
  });

  it('refuses missing orgs', async () => {
    const err = await expectUnauthorized(verifier.verify(await hsToken({ permissions: ['manage_webhooks'] })));
    expect(err.message).toMatch(/orgs/);
  });

  it.each<[string, Record<string, unknown>]>([
    ['orgs not a list', { orgs: 'acme' }],
    ['orgs with a non-string', { orgs: ['acme', 7] }],
    ['permissions not a list', { orgs: ['acme'], permissions: 'manage_webhooks' }],
    ['permissions with a non-string', { orgs: ['acme'], permissions: [{}] }],
    ['a non-string app_id', { orgs: ['acme'], app_id: 12 }],
  ])('refuses %s', async (_label, claims) => {
    await expectUnauthorized(verifier.verify(await hsToken(claims)));
  });

  it.each(['', 'garbage', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.', 'Bearer x.y.z'])(
    'refuses garbage %p',
    async (token) => {
      await expectUnauthorized(verifier.verify(token));
    },
  );

  it('refuses an unsecured (alg none) token', async () => {
    const token = new UnsecuredJWT({ orgs: ['acme'], permissions: ['manage_webhooks'] })
      .setSubject('u')
      .setAudience('ipm')
      .setExpirationTime('1h')
      .encode();
    await expectUnauthorized(verifier.verify(token));
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const token = await verifier.sign({ sub: 'u', orgs: ['acme'], permissions: [] });
    const [header, , sig] = token.split('.');
    const forged = Buffer.from(
      JSON.stringify({
        sub: 'u',
        orgs: ['acme', 'globex'],
        permissions: ['operate_queues'],
        aud: 'ipm',
        exp: now() + 600,
      }),
    ).toString('base64url');
    await expectUnauthorized(verifier.verify(`${header}.${forged}.${sig}`));
  });
});

describe('JwtVerifier (RS256)', () => {
  const pair = (): { privateKey: KeyObject; pem: string } => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return { privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  };
  const idp = pair();
  const stranger = pair();
  const config = loadConfig({ JWT_ALGORITHM: 'RS256', JWT_PUBLIC_KEY: idp.pem, JWT_SECRET: SECRET });
  const verifier = new JwtVerifier(config);

  const rsToken = (claims: Record<string, unknown>, key: KeyObject = idp.privateKey, aud = 'ipm'): Promise<string> =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject('svc-1')
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key);

  it('verifies a token signed with the private key', async () => {
    const token = await rsToken({ orgs: ['acme'], permissions: ['publish_events', 'nope'], app_id: 'billing' });
    await expect(verifier.verify(token)).resolves.toEqual({
      kind: 'user',
      actor_id: 'svc-1',
      orgs: ['acme'],
      permissions: ['publish_events'],
      app_id: 'billing',
    });
  });

  it('refuses a token signed with another key', async () => {
    await expectUnauthorized(verifier.verify(await rsToken({ orgs: ['acme'] }, stranger.privateKey)));
  });

  it('refuses a wrong audience', async () => {
    await expectUnauthorized(verifier.verify(await rsToken({ orgs: ['acme'] }, idp.privateKey, 'other')));
  });

  it('refuses HS256 tokens, including one keyed with the public key (algorithm confusion)', async () => {
    await expectUnauthorized(verifier.verify(await hsToken({ orgs: ['acme'] })));
    await expectUnauthorized(verifier.verify(await hsToken({ orgs: ['acme'] }, { secret: idp.pem })));
  });

  it('HS256 verifiers refuse RS256 tokens', async () => {
    await expectUnauthorized(new JwtVerifier(hsConfig()).verify(await rsToken({ orgs: ['acme'] })));
  });

  it('will not mint tokens', async () => {
    await expect(verifier.sign({ sub: 'u', orgs: ['acme'], permissions: [] })).rejects.toThrow(/HS256/);
  });
});

describe('JwtVerifier: verified tokens remembered', () => {
  afterEach(() => jest.restoreAllMocks());

  it('the same token again is answered without a second signature check, with the same principal', async () => {
    const verifier = new JwtVerifier(hsConfig());
    const token = await hsToken({ orgs: ['acme'], permissions: ['manage_kpis'] });
    const checks = jest.spyOn(crypto.subtle, 'verify');
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(checks).toHaveBeenCalledTimes(1);
  });

  it('never past the token’s exp, nor longer than the TTL; rejections are not remembered', async () => {
    const verifier = new JwtVerifier(hsConfig());
    const checks = jest.spyOn(crypto.subtle, 'verify');
    const start = Date.now();
    const clock = jest.spyOn(Date, 'now');

    const soon = await hsToken({ orgs: ['acme'], permissions: [] }, { exp: now() + 20 });
    await verifier.verify(soon);
    clock.mockReturnValue(start + 10_000);
    await verifier.verify(soon); // remembered
    clock.mockReturnValue(start + 25_000); // past exp (jose's own clock still accepts it): checked again
    await verifier.verify(soon);
    expect(checks).toHaveBeenCalledTimes(2);

    checks.mockClear();
    const long = await hsToken({ orgs: ['acme'], permissions: [] }, { exp: now() + 3600 });
    clock.mockReturnValue(start);
    await verifier.verify(long);
    clock.mockReturnValue(start + 61_000); // past the TTL: checked again
    await verifier.verify(long);
    expect(checks).toHaveBeenCalledTimes(2);
    clock.mockRestore();

    const bad = await hsToken({ orgs: ['acme'], permissions: [] }, { secret: 'another-secret-0123456789abcdefgh' });
    await expectUnauthorized(verifier.verify(bad));
    await expectUnauthorized(verifier.verify(bad));
  });
});
