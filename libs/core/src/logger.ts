import { ConsoleLogger, LogLevel } from '@nestjs/common';
import type { AppConfig } from './config/config.schema';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** The levels at or above LOG_LEVEL. */
export function logLevels(level: AppConfig['LOG_LEVEL']): LogLevel[] {
  return LEVELS.slice(0, LEVELS.indexOf(level) + 1);
}

/**
 * Property names whose values never reach a log line, at any depth of a logged object (compared
 * case-insensitively by Nest's `redact` option): credentials, signatures, secrets and tokens.
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

/** `text` with every credential it contains (by shape) replaced. */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

const MAX_DEPTH = 8;

/**
 * Strings anywhere inside `value` scrubbed by {@link redactText}; errors copied with a scrubbed
 * message and stack. Values are never mutated: what changes is copied.
 */
export function redactStrings(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) return value;
  if (value instanceof Error) {
    const copy = new Error(redactText(value.message));
    copy.name = value.name;
    copy.stack = value.stack === undefined ? undefined : redactText(value.stack);
    return copy;
  }
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactStrings(v, depth + 1);
  return out;
}

/**
 * Nest's console logger that never prints a credential: properties named in
 * {@link REDACTED_KEYS} are masked (Nest's `redact`), and credentials recognised by their shape are
 * scrubbed from string messages, errors and stack traces, which `redact` leaves as they are.
 */
export class RedactingLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    super.printMessages(
      messages.map((m) => redactStrings(m)),
      context,
      logLevel,
      writeStreamType,
      redactStrings(errorStack),
      params === undefined ? undefined : (redactStrings(params) as Record<string, unknown>),
    );
  }

  protected override printStackTrace(stack: string): void {
    super.printStackTrace(stack ? redactText(stack) : stack);
  }
}

/** The process logger for both apps, from LOG_LEVEL and LOG_FORMAT; it redacts credentials. */
export function createAppLogger(config: Pick<AppConfig, 'LOG_LEVEL' | 'LOG_FORMAT'>, context?: string): ConsoleLogger {
  return new RedactingLogger(context ?? 'ipm', {
    logLevels: logLevels(config.LOG_LEVEL),
    json: config.LOG_FORMAT === 'json',
    colors: config.LOG_FORMAT === 'text' && process.stdout.isTTY,
    redact: [...REDACTED_KEYS],
  });
}
