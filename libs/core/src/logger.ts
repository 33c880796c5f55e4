/**
 * Property names whose values never reach a log line, at any depth of a logged object (compared
 * case-insensitively; LOG_REDACT_KEYS adds more): credentials, signatures, secrets and tokens.
 */
export const REDACTED_KEYS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api_key',
  'apikey',
  'key',
  'key_hash',
  'secret',
  'secrets',
  'previous_secret',
  'secret_ciphertext',
  'client_secret',
  'password',
  'passphrase',
  'token',
  'jwt',
  'access_token',
  'refresh_token',
  'id_token',
  'next_token',
  'upload_url',
  'download_url',
  'report_url',
  'webhook-signature',
  'signature',
];

export const REDACTED = '[REDACTED]';

/** Credentials recognised by their shape, wherever they appear in a text (a message, an error, a stack). */
const SECRET_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // Webhook signing secrets: whsec_ + base64 of the key.
  [/whsec_[A-Za-z0-9+/=_-]+/g, `whsec_${REDACTED}`],
  // API keys: ipm_ + 40 base64url characters (ids such as key_… or whk_… do not match).
  [/(?<![A-Za-z0-9_-])ipm_[A-Za-z0-9_-]{40}(?![A-Za-z0-9_-])/g, `ipm_${REDACTED}`],
  // JWTs (and any JWS): a base64url JSON header, "eyJ", then two more dot-separated parts.
  [/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?/g, REDACTED],
  // Whatever follows a Bearer or Basic scheme.
  [/\b(Bearer|Basic)\s+[^\s"',;]+/gi, `$1 ${REDACTED}`],
  // Signed bulk URLs: the token in the path is the credential.
  [/(\/ipm\/bulk\/(?:upload|file)\/)[A-Za-z0-9_-]+/g, `$1${REDACTED}`],
  // Standard Webhooks signatures.
  [/\bv1,[A-Za-z0-9+/=]{20,}/g, `v1,${REDACTED}`],
];

/** What each of SECRET_PATTERNS needs to find somewhere in a text (a superset: a match here is checked in full). */
const MAYBE_SECRET = /whsec_|ipm_|eyJ|bearer|basic|\/bulk\/|v1,/i;

/** `text` with every credential it contains (by shape) replaced. */
export function redactText(text: string): string {
  // Most log text holds none of them: one scan for what every pattern starts with, then nothing to do.
  if (!MAYBE_SECRET.test(text)) return text;
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

const MAX_DEPTH = 8;

/** Lower-cased property names to mask: {@link REDACTED_KEYS} and `extra` (LOG_REDACT_KEYS, comma-separated). */
export function redactedKeySet(extra = ''): ReadonlySet<string> {
  const more = extra
    .split(',')
    .map((k) => k.trim().toLowerCase())
    .filter((k) => k !== '');
  return new Set([...REDACTED_KEYS.map((k) => k.toLowerCase()), ...more]);
}

const DEFAULT_KEYS = redactedKeySet();

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `value` with every credential masked: properties named in `keys` (case-insensitive, at any depth)
 * become {@link REDACTED}, and strings anywhere inside are scrubbed by {@link redactText}. Errors are
 * copied (same prototype, so their type survives) with a scrubbed message, stack and own properties.
 * Values are never mutated: what changes is copied. Other class instances pass as they are.
 */
export function redactValue(value: unknown, keys: ReadonlySet<string> = DEFAULT_KEYS, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, keys, depth + 1));
  if (value instanceof Error) {
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Error & Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) {
      copy[k] = keys.has(k.toLowerCase()) ? REDACTED : redactValue(v, keys, depth + 1);
    }
    Object.defineProperty(copy, 'message', { value: redactText(value.message), writable: true, configurable: true });
    Object.defineProperty(copy, 'stack', {
      value: value.stack === undefined ? undefined : redactText(value.stack),
      writable: true,
      configurable: true,
    });
    if (value.cause !== undefined) copy.cause = redactValue(value.cause, keys, depth + 1);
    return copy;
  }
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = keys.has(k.toLowerCase()) ? REDACTED : redactValue(v, keys, depth + 1);
  }
  return out;
}
