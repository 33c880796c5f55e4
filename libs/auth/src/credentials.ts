/** Request headers as Node and Fastify give them. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A header's value (the first one, when repeated). */
export function firstHeader(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** What a request presents: an Authorization header first, else an API key. */
export type PresentedCredential =
  | { kind: 'none' }
  | { kind: 'malformed'; message: string }
  | { kind: 'jwt'; token: string }
  | { kind: 'api_key'; key: string };

/**
 * The credential of a request, as the AuthGuard (and the queue dashboard) read it: `Authorization:
 * Bearer <jwt>` wins over `x-api-key`; any other Authorization scheme is malformed, not skipped.
 */
export function presentedCredential(headers: RequestHeaders): PresentedCredential {
  const authorization = firstHeader(headers, 'authorization')?.trim();
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match) return { kind: 'malformed', message: 'Authorization must be "Bearer <jwt>"' };
    return { kind: 'jwt', token: match[1] };
  }
  const key = firstHeader(headers, 'x-api-key')?.trim();
  return key ? { kind: 'api_key', key } : { kind: 'none' };
}
