import type * as dns from 'node:dns';
import * as http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';

import { createSafeLookup, isSsrfBlockedError, SSRF_BLOCKED, SsrfBlockedError } from './safe-lookup';

type LookupResult = { err: NodeJS.ErrnoException | null; address: string | dns.LookupAddress[]; family?: number };

/** A dns.lookup stand-in answering from a table (with `all: true`, as the safe lookup always asks). */
function fakeLookup(table: Record<string, dns.LookupAddress[]>) {
  const calls: Array<{ hostname: string; options: dns.LookupOptions }> = [];
  const fn = (
    hostname: string,
    options: dns.LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
  ): void => {
    calls.push({ hostname, options });
    const hit = table[hostname];
    setImmediate(() =>
      hit
        ? callback(null, hit)
        : callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []),
    );
  };
  return { lookup: fn as unknown as typeof dns.lookup, calls };
}

function run(lookup: LookupFunction, hostname: string, options: dns.LookupOptions): Promise<LookupResult> {
  return new Promise((resolve) =>
    lookup(hostname, options, (err, address, family) => resolve({ err, address, family })),
  );
}

const v4 = (address: string): dns.LookupAddress => ({ address, family: 4 });
const v6 = (address: string): dns.LookupAddress => ({ address, family: 6 });

describe('createSafeLookup (unit, injected resolver)', () => {
  const table = {
    'public.example': [v6('2606:2800:220:1::1'), v4('93.184.216.34')],
    'internal.example': [v4('10.0.0.5')],
    'mixed.example': [v4('93.184.216.34'), v4('10.0.0.5')],
    'mapped.example': [v6('::ffff:127.0.0.1')],
    'meta.example': [v4('169.254.169.254')],
    'ula.example': [v6('fd00::1')],
    'empty.example': [],
  };

  it('passes public answers through, in both calling conventions', async () => {
    const { lookup, calls } = fakeLookup(table);
    const safe = createSafeLookup({ allowlist: [], lookup });

    const all = await run(safe, 'public.example', { all: true, family: 0 });
    expect(all.err).toBeNull();
    expect(all.address).toEqual(table['public.example']);

    const one = await run(safe, 'public.example', { family: 0, hints: 0 });
    expect(one).toEqual({ err: null, address: '2606:2800:220:1::1', family: 6 });

    // Every address is always resolved and checked; the caller's other options are kept.
    expect(calls.map((c) => c.options)).toEqual([
      { all: true, family: 0 },
      { all: true, family: 0, hints: 0 },
    ]);
  });

  it.each<[string, string, string]>([
    ['internal.example', '10.0.0.5', 'private'],
    ['mixed.example', '10.0.0.5', 'private'],
    ['mapped.example', '::ffff:127.0.0.1', 'loopback'],
    ['meta.example', '169.254.169.254', 'metadata'],
    ['ula.example', 'fd00::1', 'private'],
  ])('refuses %s (%s, %s) for all and single-address callers', async (host, address, reason) => {
    const safe = createSafeLookup({ allowlist: [], lookup: fakeLookup(table).lookup });
    for (const options of [{ all: true }, {}] as dns.LookupOptions[]) {
      const result = await run(safe, host, options);
      expect(result.err).toBeInstanceOf(SsrfBlockedError);
      expect(result.err).toMatchObject({ code: SSRF_BLOCKED, hostname: host, address, reason });
      expect(result.err?.message).toContain(address);
      expect(result.err?.message).toContain(reason);
      expect(isSsrfBlockedError(result.err)).toBe(true);
    }
  });

  it('allows non-public answers inside the allowlist, IPv4-mapped included', async () => {
    const safe = createSafeLookup({
      allowlist: ['10.0.0.0/8', '127.0.0.0/8', 'fd00::/8'],
      lookup: fakeLookup(table).lookup,
    });
    expect(await run(safe, 'internal.example', {})).toEqual({ err: null, address: '10.0.0.5', family: 4 });
    expect((await run(safe, 'mixed.example', { all: true })).address).toEqual(table['mixed.example']);
    expect((await run(safe, 'mapped.example', {})).address).toBe('::ffff:127.0.0.1');
    expect((await run(safe, 'ula.example', {})).address).toBe('fd00::1');
    // The allowlist is not a blanket pass.
    expect((await run(safe, 'meta.example', {})).err).toBeInstanceOf(SsrfBlockedError);
  });

  it('passes resolver errors through and treats an empty answer as ENOTFOUND', async () => {
    const safe = createSafeLookup({ allowlist: [], lookup: fakeLookup(table).lookup });
    const missing = await run(safe, 'nowhere.example', {});
    expect(missing.err).toMatchObject({ code: 'ENOTFOUND' });
    expect(isSsrfBlockedError(missing.err)).toBe(false);
    expect(await run(safe, 'empty.example', { all: true })).toMatchObject({ err: { code: 'ENOTFOUND' }, address: [] });
  });

  it('isSsrfBlockedError recognises the code on any Error only', () => {
    expect(isSsrfBlockedError(Object.assign(new Error('x'), { code: SSRF_BLOCKED }))).toBe(true);
    expect(isSsrfBlockedError({ code: SSRF_BLOCKED })).toBe(false);
    expect(isSsrfBlockedError(new Error('x'))).toBe(false);
  });
});

describe('createSafeLookup with a real http.Agent and a local server', () => {
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('reached'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  function get(
    host: string,
    allowlist: string[],
    extra: http.RequestOptions = {},
  ): Promise<{ body?: string; error?: Error }> {
    const agent = new http.Agent({ lookup: createSafeLookup({ allowlist }) });
    return new Promise((resolve) => {
      const req = http.get({ host, port, path: '/', agent, ...extra }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ body }));
      });
      req.on('error', (error) => resolve({ error }));
    }).finally(() => agent.destroy()) as Promise<{ body?: string; error?: Error }>;
  }

  it('refuses http://localhost by default (the lookup sees 127.0.0.1)', async () => {
    const { body, error } = await get('localhost', [], { family: 4 });
    expect(body).toBeUndefined();
    expect(isSsrfBlockedError(error)).toBe(true);
    expect(error).toMatchObject({
      code: SSRF_BLOCKED,
      hostname: 'localhost',
      address: '127.0.0.1',
      reason: 'loopback',
    });
  });

  it('refuses with the default autoSelectFamily (all: true) path as well', async () => {
    const { error } = await get('localhost', []);
    expect(isSsrfBlockedError(error)).toBe(true);
  });

  it('allows http://localhost when 127.0.0.0/8 is allowlisted', async () => {
    expect(await get('localhost', ['127.0.0.0/8'], { family: 4 })).toEqual({ body: 'reached' });
  });

  it('does not see IP-literal hosts: Node connects without a lookup, so the URL guard must run too', async () => {
    expect(await get('127.0.0.1', [])).toEqual({ body: 'reached' });
  });
});
