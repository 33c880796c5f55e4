import crypto, { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  API_KEY_PREFIX,
  apiKeyMatches,
  generateApiKey,
  hashApiKey,
  looksLikeApiKey,
  VISIBLE_PREFIX_LENGTH,
  visiblePrefix,
} from './api-key.secret';

describe('generateApiKey', () => {
  it('is ipm_ followed by 40 base64url characters', () => {
    const key = generateApiKey();
    expect(key.startsWith(API_KEY_PREFIX)).toBe(true);
    expect(API_KEY_PREFIX).toBe('ipm_');
    expect(key).toMatch(/^ipm_[A-Za-z0-9_-]{40}$/);
    expect(key).toHaveLength(44);
  });

  it('carries 240 random bits (30 bytes)', () => {
    expect(Buffer.from(generateApiKey().slice(4), 'base64url')).toHaveLength(30);
  });

  it('never repeats', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateApiKey()));
    expect(keys.size).toBe(1000);
  });
});

describe('hashApiKey', () => {
  it('is the sha256 hex digest of the key', () => {
    const key = generateApiKey();
    const hash = hashApiKey(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(createHash('sha256').update(key).digest('hex'));
  });

  it('matches a known vector', () => {
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('is deterministic and differs between keys', () => {
    const key = generateApiKey();
    expect(hashApiKey(key)).toBe(hashApiKey(key));
    expect(hashApiKey(key)).not.toBe(hashApiKey(generateApiKey()));
  });

  it('does not contain the key', () => {
    const key = generateApiKey();
    expect(hashApiKey(key)).not.toContain(key.slice(4, 12));
  });
});

describe('visiblePrefix', () => {
  it('is the first 12 characters: ipm_ and 8 more', () => {
    const key = generateApiKey();
    expect(VISIBLE_PREFIX_LENGTH).toBe(12);
    expect(visiblePrefix(key)).toBe(key.slice(0, 12));
    expect(visiblePrefix(key)).toHaveLength(12);
    expect(visiblePrefix(key).startsWith('ipm_')).toBe(true);
  });
});

describe('looksLikeApiKey', () => {
  it('accepts generated keys', () => {
    for (let i = 0; i < 50; i++) expect(looksLikeApiKey(generateApiKey())).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['the prefix only', 'ipm_'],
    ['one character short', `ipm_${'a'.repeat(39)}`],
    ['one character long', `ipm_${'a'.repeat(41)}`],
    ['another prefix', `key_${'a'.repeat(40)}`],
    ['upper-case prefix', `IPM_${'a'.repeat(40)}`],
    ['standard base64 characters', `ipm_${'a'.repeat(38)}+/`],
    ['padding', `ipm_${'a'.repeat(39)}=`],
    ['surrounding whitespace', ` ipm_${'a'.repeat(40)} `],
    ['a trailing newline', `ipm_${'a'.repeat(40)}\n`],
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig'],
  ])('refuses %s', (_label, value) => {
    expect(looksLikeApiKey(value)).toBe(false);
  });
});

describe('apiKeyMatches (timing-safe)', () => {
  afterEach(() => jest.restoreAllMocks());

  it('matches the key of the hash, and nothing else', () => {
    const key = generateApiKey();
    expect(apiKeyMatches(key, hashApiKey(key))).toBe(true);
    expect(apiKeyMatches(generateApiKey(), hashApiKey(key))).toBe(false);
    // One character changed: a random key may itself end in 'x', so pick another.
    const last = key.endsWith('x') ? 'y' : 'x';
    expect(apiKeyMatches(`${key.slice(0, -1)}${last}`, hashApiKey(key))).toBe(false);
  });

  it('compares with crypto.timingSafeEqual on two 32-byte buffers', () => {
    const spy = jest.spyOn(crypto, 'timingSafeEqual');
    const key = generateApiKey();
    apiKeyMatches(key, hashApiKey(key));
    apiKeyMatches(generateApiKey(), hashApiKey(key));
    expect(spy).toHaveBeenCalledTimes(2);
    for (const [a, b] of spy.mock.calls) {
      expect(Buffer.isBuffer(a) && Buffer.isBuffer(b)).toBe(true);
      expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
    }
  });

  it('refuses a stored value that is not a SHA-256 digest without throwing', () => {
    const key = generateApiKey();
    expect(apiKeyMatches(key, '')).toBe(false);
    expect(apiKeyMatches(key, 'zz')).toBe(false);
    expect(apiKeyMatches(key, hashApiKey(key).slice(2))).toBe(false);
  });

  it('structurally: the key path never compares a key or a hash with === or !==', () => {
    // A code read kept honest: the authenticator looks the key up by its hash (ApiKeyRepository.findByHash) and checks it with
    // apiKeyMatches; neither file compares the presented key or a hash as strings.
    const authenticator = readFileSync(join(__dirname, 'api-key.authenticator.ts'), 'utf8');
    const secret = readFileSync(join(__dirname, 'api-key.secret.ts'), 'utf8');
    const repository = readFileSync(join(__dirname, 'api-key.repository.ts'), 'utf8');
    const authenticate = authenticator.slice(authenticator.indexOf('async authenticate('));
    expect(authenticate).toContain('findByHash(hashApiKey(presented))');
    expect(repository).toContain('findOneBy(ApiKeyEntity, { key_hash: keyHash })');
    expect(authenticate).toContain('apiKeyMatches(presented, key.key_hash)');
    for (const source of [authenticate, repository, secret]) {
      for (const line of source.split('\n')) {
        if (/[!=]==/.test(line)) expect(line).not.toMatch(/presented|key_hash|storedHash|hashApiKey|\bkey\b\s*[!=]==/);
      }
    }
    expect(secret).not.toMatch(/\.localeCompare\(|\.startsWith\(storedHash|\.equals\(/);
  });
});
