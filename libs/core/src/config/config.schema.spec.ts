import { generateKeyPairSync } from 'node:crypto';
import { AppConfig, ConfigError, DEV_JWT_SECRET, DEV_SECRETS_KEY, loadConfig } from './config.schema';

const GOOD_SECRETS_KEY = `k2:${Buffer.alloc(32, 7).toString('base64')}`;
const GOOD_JWT_SECRET = 'a-production-jwt-secret-of-at-least-32-chars';

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected loadConfig to refuse ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('loads every default from an empty environment', () => {
    const config = loadConfig({});
    expect(config).toBeInstanceOf(AppConfig);
    expect(config).toMatchObject({
      IPM_ENV: 'development',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/ipm',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'ipm',
      API_PORT: 3000,
      API_HOST: '0.0.0.0',
      WORKER_PORT: 3001,
      JWT_ALGORITHM: 'HS256',
      JWT_SECRET: DEV_JWT_SECRET,
      JWT_AUDIENCE: 'ipm',
      SECRETS_KEY: DEV_SECRETS_KEY,
      BUILD_ID: 'dev-local',
      WEBHOOK_TARGET_ALLOWLIST: '',
      LOG_LEVEL: 'log',
      BODY_LIMIT_BYTES: 1024 * 1024,
      IDEMPOTENCY_TTL_HOURS: 24,
      SHUTDOWN_TIMEOUT_MS: 30_000,
      DATABASE_POOL_SIZE: 10,
    });
    expect(config.JWT_PUBLIC_KEY).toBeUndefined();
    expect(config.JWT_JWKS_URL).toBeUndefined();
    expect(config.JWT_ISSUER).toBeUndefined();
    expect(config.allowlist).toEqual([]);
  });

  it('treats empty variables as unset', () => {
    const config = loadConfig({ API_PORT: '', DATABASE_URL: '', JWT_SECRET: '' });
    expect(config.API_PORT).toBe(3000);
    expect(config.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/ipm');
    expect(config.JWT_SECRET).toBe(DEV_JWT_SECRET);
  });

  it('ignores variables that are not part of the schema', () => {
    const config = loadConfig({ PATH: '/usr/bin', HOME: '/root', SOMETHING_ELSE: 'x' });
    expect(config).not.toHaveProperty('PATH');
    expect(config).not.toHaveProperty('SOMETHING_ELSE');
  });

  it('parses numbers and trims values', () => {
    const config = loadConfig({
      API_PORT: ' 8080 ',
      WORKER_PORT: '9090',
      DATABASE_URL: '  postgresql://u:p@db.internal:5433/ipm_test  ',
      REDIS_URL: 'rediss://cache:6380/2',
      BODY_LIMIT_BYTES: '2048',
      QUEUE_PREFIX: 'ipm:test_1',
      JWT_AUDIENCE: ' api ',
    });
    expect(config.API_PORT).toBe(8080);
    expect(config.WORKER_PORT).toBe(9090);
    expect(config.DATABASE_URL).toBe('postgresql://u:p@db.internal:5433/ipm_test');
    expect(config.REDIS_URL).toBe('rediss://cache:6380/2');
    expect(config.BODY_LIMIT_BYTES).toBe(2048);
    expect(config.QUEUE_PREFIX).toBe('ipm:test_1');
    expect(config.JWT_AUDIENCE).toBe('api');
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('parses a good allowlist into a list', () => {
    const config = loadConfig({ WEBHOOK_TARGET_ALLOWLIST: ' 10.0.0.0/8, 192.168.1.0/24 ,fd00::/8,, ' });
    expect(config.allowlist).toEqual(['10.0.0.0/8', '192.168.1.0/24', 'fd00::/8']);
  });

  it.each<[string, NodeJS.ProcessEnv]>([
    ['API_PORT', { API_PORT: 'abc' }],
    ['API_PORT', { API_PORT: '70000' }],
    ['API_PORT', { API_PORT: '-1' }],
    ['API_PORT', { API_PORT: '80.5' }],
    ['WORKER_PORT', { WORKER_PORT: '65536' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }],
    ['REDIS_URL', { REDIS_URL: 'foo' }],
    ['REDIS_URL', { REDIS_URL: 'http://cache:6379' }],
    ['WEBHOOK_TARGET_ALLOWLIST', { WEBHOOK_TARGET_ALLOWLIST: '10.0.0.0/33' }],
    ['WEBHOOK_TARGET_ALLOWLIST', { WEBHOOK_TARGET_ALLOWLIST: '10.0.0.0/8,not-a-cidr' }],
    ['SECRETS_KEY', { SECRETS_KEY: 'short' }],
    ['SECRETS_KEY', { SECRETS_KEY: `k1:${Buffer.alloc(16).toString('base64')}` }],
    ['JWT_SECRET', { JWT_SECRET: 'x'.repeat(31) }],
    ['JWT_ALGORITHM', { JWT_ALGORITHM: 'none' }],
    ['JWT_PUBLIC_KEY', { JWT_ALGORITHM: 'RS256' }],
    ['JWT_PUBLIC_KEY', { JWT_PUBLIC_KEY: 'not a pem' }],
    ['JWT_JWKS_URL', { JWT_JWKS_URL: 'ftp://idp/jwks' }],
    ['IPM_ENV', { IPM_ENV: 'staging' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'trace' }],
    ['QUEUE_PREFIX', { QUEUE_PREFIX: 'has space' }],
    ['BUILD_ID', { BUILD_ID: 'bad/build' }],
    ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: '10' }],
    ['IDEMPOTENCY_TTL_HOURS', { IDEMPOTENCY_TTL_HOURS: '0' }],
    ['SHUTDOWN_TIMEOUT_MS', { SHUTDOWN_TIMEOUT_MS: '999999999' }],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '101' }],
  ])('refuses a bad %s (%j) with a ConfigError naming it', (variable, env) => {
    const err = configError(env);
    expect(err.message).toContain(variable);
    expect(err.problems.some((p) => p.includes(variable))).toBe(true);
    expect(err.name).toBe('ConfigError');
  });

  it('names the bad CIDR itself', () => {
    const err = configError({ WEBHOOK_TARGET_ALLOWLIST: '10.0.0.0/8, 10.0.0.0/33' });
    expect(err.problems).toEqual(['WEBHOOK_TARGET_ALLOWLIST: "10.0.0.0/33" is not a valid CIDR']);
  });

  it('reports every problem at once', () => {
    const err = configError({ API_PORT: 'abc', REDIS_URL: 'foo', JWT_SECRET: 'short' });
    const named = new Set(err.problems.map((p) => /^[A-Z_]+/.exec(p)?.[0]));
    expect([...named].sort()).toEqual(['API_PORT', 'JWT_SECRET', 'REDIS_URL']);
  });

  describe('IPM_ENV=production', () => {
    it('refuses the development JWT secret and secrets key', () => {
      const err = configError({ IPM_ENV: 'production' });
      expect(err.message).toContain('JWT_SECRET');
      expect(err.message).toContain('SECRETS_KEY');
      expect(err.problems).toHaveLength(2);
    });

    it('refuses the development secrets key even as a rotation (decrypt-only) key', () => {
      const err = configError({
        IPM_ENV: 'production',
        JWT_SECRET: GOOD_JWT_SECRET,
        SECRETS_KEY: `${GOOD_SECRETS_KEY},${DEV_SECRETS_KEY}`,
      });
      expect(err.problems).toEqual([expect.stringContaining('SECRETS_KEY')]);
    });

    it('refuses only the JWT secret when the secrets key is set', () => {
      const err = configError({ IPM_ENV: 'production', SECRETS_KEY: GOOD_SECRETS_KEY });
      expect(err.problems).toEqual([expect.stringContaining('JWT_SECRET')]);
    });

    it('accepts real secrets', () => {
      const config = loadConfig({ IPM_ENV: 'production', JWT_SECRET: GOOD_JWT_SECRET, SECRETS_KEY: GOOD_SECRETS_KEY });
      expect(config.IPM_ENV).toBe('production');
      expect(config.JWT_SECRET).toBe(GOOD_JWT_SECRET);
    });
  });

  describe('RS256', () => {
    const publicKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();

    it('accepts a PEM public key', () => {
      const config = loadConfig({ JWT_ALGORITHM: 'RS256', JWT_PUBLIC_KEY: publicKey });
      expect(config.JWT_ALGORITHM).toBe('RS256');
      expect(config.JWT_PUBLIC_KEY).toBe(publicKey);
    });

    it('accepts a JWKS URL instead', () => {
      const config = loadConfig({
        JWT_ALGORITHM: 'RS256',
        JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json',
      });
      expect(config.JWT_JWKS_URL).toBe('https://idp.example.com/.well-known/jwks.json');
    });

    it('with neither, names both variables', () => {
      const err = configError({ JWT_ALGORITHM: 'RS256' });
      expect(err.message).toContain('JWT_PUBLIC_KEY');
      expect(err.message).toContain('JWT_JWKS_URL');
    });

    it('in production does not require replacing the unused HS256 dev secret', () => {
      const config = loadConfig({
        IPM_ENV: 'production',
        JWT_ALGORITHM: 'RS256',
        JWT_PUBLIC_KEY: publicKey,
        SECRETS_KEY: GOOD_SECRETS_KEY,
      });
      expect(config.JWT_ALGORITHM).toBe('RS256');
    });
  });

  it('accepts a rotation list of secrets keys', () => {
    const list = `${GOOD_SECRETS_KEY},old_1:${Buffer.alloc(32, 1).toString('base64')}`;
    expect(loadConfig({ SECRETS_KEY: list }).SECRETS_KEY).toBe(list);
  });
});

describe('ConfigError', () => {
  it('lists each problem on its own line', () => {
    const err = new ConfigError(['A: bad', 'B: worse']);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('Invalid configuration:\n  - A: bad\n  - B: worse');
    expect(err.problems).toEqual(['A: bad', 'B: worse']);
  });
});
