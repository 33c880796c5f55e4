import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';

/** What a call got: an HTTP status and the parsed envelope, or a connection-level error (no response). */
export type CallOutcome =
  { kind: 'response'; status: number; body: Envelope; ms: number } | { kind: 'error'; code: string; ms: number };

export interface Envelope {
  success?: boolean;
  data?: unknown;
  error?: { code?: string; message?: string };
}

/** No keep-alive: each call opens its own connection, so a server closing its idle sockets never races a new call. */
const agent = new Agent({ keepAlive: false });

/**
 * POSTs (or GETs, without a body) JSON with node:http and never throws: a response of any status, or the
 * connection error's code (ECONNREFUSED, ECONNRESET, …, TIMEOUT after `timeoutMs`).
 */
export function call(
  url: string,
  init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: unknown; timeoutMs?: number } = {},
): Promise<CallOutcome> {
  const started = Date.now();
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: CallOutcome): void => {
      if (!settled) {
        settled = true;
        resolve(outcome);
      }
    };
    const req = request(
      url,
      {
        method: init.method ?? (body === undefined ? 'GET' : 'POST'),
        agent,
        headers: {
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
          ...init.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err: NodeJS.ErrnoException) =>
          settle({ kind: 'error', code: err.code ?? err.message, ms: 0 }),
        );
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Envelope;
          try {
            parsed = JSON.parse(text) as Envelope;
          } catch {
            parsed = { error: { code: 'not_json', message: text.slice(0, 200) } };
          }
          settle({ kind: 'response', status: res.statusCode ?? 0, body: parsed, ms: Date.now() - started });
        });
      },
    );
    req.setTimeout(init.timeoutMs ?? 15_000, () => {
      settle({ kind: 'error', code: 'TIMEOUT', ms: Date.now() - started });
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      settle({ kind: 'error', code: err.code ?? err.message, ms: Date.now() - started }),
    );
    req.end(body);
  });
}

/** A short label of an outcome for tallies: `200`, `503 service_unavailable`, `ECONNREFUSED`. */
export function outcomeLabel(outcome: CallOutcome): string {
  if (outcome.kind === 'error') return outcome.code;
  return outcome.status < 300 ? String(outcome.status) : `${outcome.status} ${outcome.body.error?.code ?? '?'}`;
}

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/** An HS256 JWT as an identity provider would mint it (valid for an hour). */
export function mintJwt(secret: string, audience: string, orgs: string[], permissions: string[]): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = b64url(
    JSON.stringify({ sub: 'chaos', orgs, permissions, aud: audience, iat: now - 60, exp: now + 3600 }),
  );
  const signature = createHmac('sha256', secret).update(`${head}.${claims}`).digest('base64url');
  return `${head}.${claims}.${signature}`;
}
