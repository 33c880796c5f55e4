import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const API_KEY_PREFIX = 'ipm_';
const KEY_BODY = /^ipm_[A-Za-z0-9_-]{40}$/;
/** Characters shown to people to tell keys apart: `ipm_` and 8 more. */
export const VISIBLE_PREFIX_LENGTH = 12;

/** A new key: `ipm_` + 40 base64url characters (240 random bits). */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(30).toString('base64url');
}

/**
 * The stored form. A plain SHA-256 suffices: keys carry 240 random bits, so there is nothing
 * to brute-force, and a fast hash keeps lookup by hash one indexed read.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Whether a presented key hashes to a stored hash. The key is looked up by its hash (the database
 * compares digests, never the key), and the row's hash is then checked again here in constant time
 * on equal-length buffers: no `===` on attacker-controlled text anywhere on the way.
 */
export function apiKeyMatches(presented: string, storedHash: string): boolean {
  const given = Buffer.from(hashApiKey(presented), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return given.length === 32 && stored.length === 32 && timingSafeEqual(given, stored);
}

export function looksLikeApiKey(value: string): boolean {
  return KEY_BODY.test(value);
}

export function visiblePrefix(key: string): string {
  return key.slice(0, VISIBLE_PREFIX_LENGTH);
}
