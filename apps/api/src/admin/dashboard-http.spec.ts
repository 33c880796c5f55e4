import {
  clearSessionCookie,
  crossOriginWrite,
  extractCredential,
  looksLikeJwt,
  MAX_SESSION_SECONDS,
  normalizePastedToken,
  readCookie,
  SESSION_COOKIE,
  sessionCookie,
  sessionSeconds,
  wantsHtml,
} from './dashboard-http';
import { escapeHtml, forbiddenPage, loginPage } from './dashboard-pages';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJl';

describe('readCookie', () => {
  it('finds the named cookie among others, unquoted, and nothing for an empty or absent one', () => {
    expect(readCookie(`a=1; ${SESSION_COOKIE}=${JWT}; b=2`, SESSION_COOKIE)).toBe(JWT);
    expect(readCookie(`${SESSION_COOKIE}="${JWT}"`, SESSION_COOKIE)).toBe(JWT);
    expect(readCookie(`x${SESSION_COOKIE}=1; ${SESSION_COOKIE}x=2`, SESSION_COOKIE)).toBeUndefined();
    expect(readCookie(`${SESSION_COOKIE}=`, SESSION_COOKIE)).toBeUndefined();
    expect(readCookie('garbage;;=;', SESSION_COOKIE)).toBeUndefined();
    expect(readCookie(undefined, SESSION_COOKIE)).toBeUndefined();
  });
});

describe('extractCredential', () => {
  it('takes the Authorization header first, then an API key, then the cookie', () => {
    const cookie = `${SESSION_COOKIE}=${JWT}`;
    expect(extractCredential({ authorization: `Bearer ${JWT}`, 'x-api-key': 'ipm_x', cookie })).toEqual({
      kind: 'jwt',
      token: JWT,
      source: 'header',
    });
    expect(extractCredential({ authorization: `bearer   ${JWT} ` })).toMatchObject({ kind: 'jwt', token: JWT });
    expect(extractCredential({ 'x-api-key': ' ipm_x ', cookie })).toEqual({ kind: 'api_key', key: 'ipm_x' });
    expect(extractCredential({ cookie })).toEqual({ kind: 'jwt', token: JWT, source: 'cookie' });
    expect(extractCredential({})).toEqual({ kind: 'none' });
  });

  it('a non-Bearer Authorization header is malformed, not ignored in favour of the cookie', () => {
    expect(extractCredential({ authorization: 'Basic abc', cookie: `${SESSION_COOKIE}=${JWT}` })).toEqual({
      kind: 'malformed',
      message: 'Authorization must be "Bearer <jwt>"',
    });
    expect(extractCredential({ authorization: 'Bearer a b' }).kind).toBe('malformed');
  });
});

describe('looksLikeJwt and normalizePastedToken', () => {
  it('accepts three base64url parts only (nothing that could break a Set-Cookie header)', () => {
    expect(looksLikeJwt(JWT)).toBe(true);
    for (const bad of [
      '',
      'abc',
      'a.b',
      'a.b.',
      'a.b.c.d',
      `${JWT};Path=/`,
      `${JWT} x`,
      'a=.b.c',
      `${'a'.repeat(4000)}.b.c`,
    ]) {
      expect(looksLikeJwt(bad)).toBe(false);
    }
  });

  it('trims a pasted token and drops a leading "Bearer "', () => {
    expect(normalizePastedToken(`  Bearer ${JWT}\n`)).toBe(JWT);
    expect(normalizePastedToken(JWT)).toBe(JWT);
    expect(normalizePastedToken(undefined)).toBe('');
    expect(normalizePastedToken(['x'])).toBe('');
  });
});

describe('wantsHtml (accept negotiation for refusals)', () => {
  const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8';

  it('HTML for a browser navigating to the UI', () => {
    expect(wantsHtml('GET', '/admin/queues', browser)).toBe(true);
    expect(wantsHtml('HEAD', '/admin/queues/queue/delivery', browser)).toBe(true);
    expect(wantsHtml('GET', '/admin/queues', 'text/html')).toBe(true);
  });

  it('JSON for API clients, wildcards, JSON preferred, writes, and the board API and static files', () => {
    expect(wantsHtml('GET', '/admin/queues', 'application/json')).toBe(false);
    expect(wantsHtml('GET', '/admin/queues', '*/*')).toBe(false);
    expect(wantsHtml('GET', '/admin/queues', undefined)).toBe(false);
    expect(wantsHtml('GET', '/admin/queues', 'application/json, text/html;q=0.5')).toBe(false);
    expect(wantsHtml('GET', '/admin/queues', 'text/html;q=0, */*')).toBe(false);
    expect(wantsHtml('GET', '/admin/queues', 'text/html;q=0.9, application/*;q=0.9')).toBe(true);
    expect(wantsHtml('PUT', '/admin/queues', browser)).toBe(false);
    expect(wantsHtml('GET', '/admin/queues/api/queues', browser)).toBe(false);
    expect(wantsHtml('GET', '/admin/queues/static/js/main.js', browser)).toBe(false);
  });
});

describe('crossOriginWrite', () => {
  it('refuses writes another site (a sibling subdomain included) sent; reads and same-origin writes pass', () => {
    expect(crossOriginWrite('PUT', 'cross-site')).toBe(true);
    expect(crossOriginWrite('POST', 'same-site')).toBe(true);
    expect(crossOriginWrite('PUT', 'same-origin')).toBe(false);
    expect(crossOriginWrite('POST', 'none')).toBe(false);
    expect(crossOriginWrite('PATCH', undefined)).toBe(false);
    expect(crossOriginWrite('GET', 'cross-site')).toBe(false);
  });
});

describe('session cookie', () => {
  it('HttpOnly, SameSite=Strict, on the dashboard path, for Max-Age seconds; Secure over https', () => {
    expect(sessionCookie(JWT, { maxAge: 3599.7, secure: false })).toBe(
      `${SESSION_COOKIE}=${JWT}; Path=/admin/queues; Max-Age=3599; HttpOnly; SameSite=Strict`,
    );
    expect(sessionCookie(JWT, { maxAge: 60, secure: true }).split('; ')).toContain('Secure');
  });

  it('refuses to write anything but a JWT into the cookie', () => {
    expect(() => sessionCookie(`${JWT}; Domain=evil.example`, { maxAge: 60, secure: false })).toThrow();
  });

  it('clearing sends the same path and flags with Max-Age=0', () => {
    expect(clearSessionCookie(true)).toBe(
      `${SESSION_COOKIE}=; Path=/admin/queues; Max-Age=0; HttpOnly; SameSite=Strict; Secure`,
    );
  });

  it('lasts the token remaining lifetime, capped, never negative', () => {
    const now = 1_800_000_000_000;
    expect(sessionSeconds(now / 1000 + 90, now)).toBe(90);
    expect(sessionSeconds(now / 1000 + 10 * 24 * 3600, now)).toBe(MAX_SESSION_SECONDS);
    expect(sessionSeconds(now / 1000 - 5, now)).toBe(0);
    expect(sessionSeconds(undefined, now)).toBe(0);
  });
});

describe('pages', () => {
  it('escape what they show', () => {
    expect(escapeHtml(`<script>"x" & 'y'</script>`)).toBe(
      '&#60;script&#62;&#34;x&#34; &#38; &#39;y&#39;&#60;/script&#62;',
    );
    expect(loginPage('<b>bad</b>')).toContain('&#60;b&#62;bad&#60;/b&#62;');
    expect(forbiddenPage('<i>')).not.toContain('<i>');
  });

  it('the login form posts the token to the login route (never a GET: no token in a URL)', () => {
    const html = loginPage();
    expect(html).toContain('<form method="post" action="/admin/queues/login"');
    expect(html).not.toContain('role="alert"');
  });
});
