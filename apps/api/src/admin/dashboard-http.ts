import { firstHeader, type PresentedCredential, presentedCredential, type RequestHeaders } from '@ipm/auth';

/**
 * The pure pieces of the queue dashboard's access check: where it lives, how a request's credential is
 * found, which answer (HTML or the JSON envelope) a refused request gets, and the session cookie.
 */

/** Where Bull Board is mounted (outside the api's /ipm prefix). */
export const DASHBOARD_PATH = '/admin/queues';
export const LOGIN_PATH = `${DASHBOARD_PATH}/login`;
export const LOGOUT_PATH = `${DASHBOARD_PATH}/logout`;
/** The browser session: the operator's JWT itself, HttpOnly, sent to the dashboard's paths only. */
export const SESSION_COOKIE = 'ipm_queue_dashboard';
/** A session never outlives its JWT, and never lasts longer than this either. */
export const MAX_SESSION_SECONDS = 12 * 3600;
/** Browsers drop cookies past ~4 KB; a longer token could not be kept in one. */
export const MAX_TOKEN_LENGTH = 3800;

/** The value of cookie `name` in a Cookie header (undefined when absent or empty). */
export function readCookie(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value || undefined;
  }
  return undefined;
}

/** A compact JWS (three base64url parts): the only thing ever written into the cookie. */
export function looksLikeJwt(value: string): boolean {
  return value.length <= MAX_TOKEN_LENGTH && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value);
}

/** What a request presents, in order of precedence: an Authorization header, an API key, the session cookie. */
export type Credential =
  Exclude<PresentedCredential, { kind: 'jwt' }> | { kind: 'jwt'; token: string; source: 'header' | 'cookie' };

export function extractCredential(headers: RequestHeaders): Credential {
  const presented = presentedCredential(headers);
  if (presented.kind === 'jwt') return { ...presented, source: 'header' };
  if (presented.kind !== 'none') return presented;
  const cookie = readCookie(firstHeader(headers, 'cookie'), SESSION_COOKIE);
  return cookie ? { kind: 'jwt', token: cookie, source: 'cookie' } : presented;
}

/** A token as pasted into the login form: trimmed, and without a leading "Bearer ". */
export function normalizePastedToken(value: unknown): string {
  if (typeof value !== 'string') return '';
  return value.trim().replace(/^Bearer\s+/i, '');
}

/** The quality (0–1) `accept` gives `type` (`text/html`), through `text/*` and `*\/*` when not named. */
function quality(ranges: { type: string; q: number }[], type: string, explicitOnly: boolean): number {
  const [main] = type.split('/');
  const candidates = explicitOnly ? [type] : [type, `${main}/*`, '*/*'];
  for (const candidate of candidates) {
    const found = ranges.find((r) => r.type === candidate);
    if (found) return found.q;
  }
  return 0;
}

function parseAccept(accept: string): { type: string; q: number }[] {
  return accept
    .split(',')
    .map((part) => {
      const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.map((p) => /^q=([0-9.]+)$/.exec(p)).find((m) => m !== null);
      const value = q ? Number(q[1]) : 1;
      return { type, q: Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 0 };
    })
    .filter((r) => r.type !== '');
}

/**
 * Whether a refused request gets an HTML page (a browser navigating: GET or HEAD, `text/html` named in
 * Accept and ranked at least as high as JSON) rather than the JSON error envelope (API calls, scripts,
 * curl's `*\/*`, and always Bull Board's own /api/* and static files).
 */
export function wantsHtml(method: string, path: string, accept: string | undefined): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (path.startsWith(`${DASHBOARD_PATH}/api/`) || path.startsWith(`${DASHBOARD_PATH}/static/`)) return false;
  if (!accept) return false;
  const ranges = parseAccept(accept);
  const html = quality(ranges, 'text/html', true);
  return html > 0 && html >= quality(ranges, 'application/json', false);
}

/**
 * Whether a request authenticated by the cookie must be refused as cross-origin: SameSite=Strict keeps
 * other sites' requests cookieless, but a sibling subdomain is "same-site". Browsers say where a request
 * comes from in Sec-Fetch-Site; only state-changing methods are checked (reads are harmless to replay).
 */
export function crossOriginWrite(method: string, secFetchSite: string | undefined): boolean {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false;
  return secFetchSite !== undefined && secFetchSite !== 'same-origin' && secFetchSite !== 'none';
}

export interface CookieOptions {
  /** Seconds the browser keeps it; 0 deletes it. */
  maxAge: number;
  /** Set when the request came over https (directly or per X-Forwarded-Proto). */
  secure: boolean;
}

function cookie(value: string, { maxAge, secure }: CookieOptions): string {
  const attributes = [
    `${SESSION_COOKIE}=${value}`,
    `Path=${DASHBOARD_PATH}`,
    `Max-Age=${Math.max(0, Math.floor(maxAge))}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (secure) attributes.push('Secure');
  return attributes.join('; ');
}

/** The Set-Cookie value of a session holding `token` (which must look like a JWT: no `;` can slip in). */
export function sessionCookie(token: string, options: CookieOptions): string {
  if (!looksLikeJwt(token)) throw new Error('Only a compact JWT may be stored in the session cookie');
  return cookie(token, options);
}

/** The Set-Cookie value that deletes the session. */
export function clearSessionCookie(secure: boolean): string {
  return cookie('', { maxAge: 0, secure });
}

/** How long a session may last: the token's remaining lifetime (`exp`, seconds since the epoch), capped. */
export function sessionSeconds(exp: number | undefined, nowMs: number): number {
  if (exp === undefined || !Number.isFinite(exp)) return 0;
  return Math.max(0, Math.min(Math.floor(exp - nowMs / 1000), MAX_SESSION_SECONDS));
}

/**
 * Headers on every dashboard response: no caching of job data, no framing (the page has destructive
 * buttons), and a policy that loads only this origin's code (Bull Board's page also asks Google for
 * fonts: refused, the UI falls back to local fonts and the operator's browser calls no third party).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
};
