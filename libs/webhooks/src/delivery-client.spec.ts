import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  HostileConnection,
  HostileReceiver,
  HUGE_BODY_BYTES,
  SELF_SIGNED,
} from '../../../test/support/hostile-receiver';
import {
  AttemptResult,
  BODY_EXCERPT_BYTES,
  DeliveryClient,
  MAX_INFORMATIONAL_RESPONSES,
  RESPONSE_READ_CAP_BYTES,
} from './delivery-client';
import { classifyAttempt } from './delivery-policy';

interface TestServer {
  server: http.Server;
  port: number;
  connections: number;
  requests: number;
  lastHeaders: http.IncomingHttpHeaders | null;
  lastBody: string;
}

async function startServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<TestServer> {
  const server = http.createServer();
  const state: TestServer = { server, port: 0, connections: 0, requests: 0, lastHeaders: null, lastBody: '' };
  server.on('connection', () => {
    state.connections += 1;
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    state.requests += 1;
    state.lastHeaders = req.headers;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.lastBody = Buffer.concat(chunks).toString('utf8');
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

async function stopServer(s: TestServer): Promise<void> {
  s.server.closeAllConnections();
  await new Promise<void>((resolve) => s.server.close(() => resolve()));
}

describe('DeliveryClient', () => {
  const servers: TestServer[] = [];
  const clients: DeliveryClient[] = [];

  const serve = async (handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<TestServer> => {
    const s = await startServer(handler);
    servers.push(s);
    return s;
  };
  const client = (allowlist: string[] = ['127.0.0.0/8'], maxResponseBytes?: number): DeliveryClient => {
    const c = new DeliveryClient({ allowlist, userAgent: 'IPM-Webhooks/1.0', maxResponseBytes });
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(servers.splice(0).map(stopServer));
  });

  it('returns a 2xx as ok with the body excerpt, sending JSON with the user agent and the given headers', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('thanks');
    });
    const result = await client().post(
      `http://127.0.0.1:${s.port}/hook?x=1`,
      '{"a":1}',
      { 'webhook-id': 'msg_1' },
      2000,
    );
    expect(result).toMatchObject({
      ok: true,
      status: 200,
      bodyExcerpt: 'thanks',
      errorCode: null,
      errorMessage: null,
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(s.lastBody).toBe('{"a":1}');
    expect(s.lastHeaders).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'IPM-Webhooks/1.0',
      'webhook-id': 'msg_1',
    });
  });

  it('sends headers named like Object.prototype members (__proto__, constructor, toString) as given', async () => {
    let raw: string[] = [];
    const s = await serve((req, res) => {
      raw = req.rawHeaders; // req.headers is a plain object: it would lose __proto__ itself
      res.writeHead(204).end();
    });
    const headers = JSON.parse(
      '{"__proto__":"p","constructor":"c","prototype":"t","hasOwnProperty":"h","toString":"s","valueOf":"v"}',
    ) as Record<string, string>;
    const result = await client().post(`http://127.0.0.1:${s.port}/hook`, '{}', headers, 2000);
    expect(result.ok).toBe(true);
    const sent = raw.flatMap((v, i) => (i % 2 === 0 ? [`${v}: ${raw[i + 1]}`] : []));
    expect(sent).toEqual(
      expect.arrayContaining([
        '__proto__: p',
        'constructor: c',
        'prototype: t',
        'hasownproperty: h',
        'tostring: s',
        'valueof: v',
      ]),
    );
  });

  it('returns a 500 with its status, not ok and without an error code', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(500);
      res.end('boom');
    });
    const result = await client().post(`http://127.0.0.1:${s.port}/`, '{}', {}, 2000);
    expect(result).toMatchObject({ ok: false, status: 500, bodyExcerpt: 'boom', errorCode: null });
  });

  it('keeps only the first 4096 bytes of a 10 KB body', async () => {
    const body = 'x'.repeat(10 * 1024);
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    });
    const result = await client().post(`http://127.0.0.1:${s.port}/`, '{}', {}, 2000);
    expect(result.ok).toBe(true);
    expect(result.bodyExcerpt).toBe('x'.repeat(4096));
  });

  it('records the headers of note only', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(429, {
        'content-type': 'application/json',
        'content-length': '2',
        'retry-after': '30',
        server: 'receiver',
        'x-request-id': 'req-7',
        'x-secret': 'nope',
        'set-cookie': 'a=b',
      });
      res.end('{}');
    });
    const result = await client().post(`http://127.0.0.1:${s.port}/`, '{}', {}, 2000);
    expect(result.status).toBe(429);
    expect(Object.keys(result.responseHeaders).sort()).toEqual(
      ['content-length', 'content-type', 'date', 'retry-after', 'server', 'x-request-id'].sort(),
    );
    expect(result.responseHeaders).toMatchObject({
      'content-type': 'application/json',
      'retry-after': '30',
      'content-length': '2',
      server: 'receiver',
      'x-request-id': 'req-7',
    });
  });

  it('gives up on a server that never answers with ERR_DELIVERY_TIMEOUT, within about the timeout', async () => {
    const s = await serve(() => undefined);
    const started = Date.now();
    const result = await client().post(`http://127.0.0.1:${s.port}/`, '{}', {}, 300);
    const took = Date.now() - started;
    expect(result).toMatchObject({ ok: false, status: null, errorCode: 'ERR_DELIVERY_TIMEOUT' });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1500);
  });

  it('times out a response whose body never ends', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    const result = await client().post(`http://127.0.0.1:${s.port}/`, '{}', {}, 300);
    expect(result).toMatchObject({ ok: false, status: 200, errorCode: 'ERR_DELIVERY_TIMEOUT', bodyExcerpt: 'partial' });
  });

  it('returns ECONNREFUSED for a closed port', async () => {
    const s = await startServer(() => undefined);
    const port = s.port;
    await stopServer(s);
    const result = await client().post(`http://127.0.0.1:${port}/`, '{}', {}, 2000);
    expect(result).toMatchObject({ ok: false, status: null, errorCode: 'ECONNREFUSED' });
    expect(result.errorMessage).toEqual(expect.any(String));
  });

  it('refuses loopback without the allowlist, as an IP literal and by name, before any request', async () => {
    const s = await serve((_req, res) => res.end('should not happen'));
    const c = client([]);
    for (const url of [`http://127.0.0.1:${s.port}/`, `http://localhost:${s.port}/`, `http://[::1]:${s.port}/`]) {
      const result = await c.post(url, '{}', {}, 2000);
      expect(result).toMatchObject({ ok: false, status: null, errorCode: 'ERR_SSRF_BLOCKED' });
    }
    const metadata = await c.post('http://169.254.169.254/latest/meta-data', '{}', {}, 2000);
    expect(metadata.errorCode).toBe('ERR_SSRF_BLOCKED');
    expect(s.requests).toBe(0);
    expect(s.connections).toBe(0);
  });

  it('returns a 302 as is, without following it', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/elsewhere') {
        res.end('followed');
        return;
      }
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
    });
    const result = await client().post(`http://127.0.0.1:${s.port}/`, '{}', {}, 2000);
    expect(result).toMatchObject({ ok: false, status: 302, errorCode: null });
    expect(s.requests).toBe(1);
  });

  it('reuses one keep-alive connection for sequential posts to one origin', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200);
      res.end('ok');
    });
    const c = client();
    const first = await c.post(`http://127.0.0.1:${s.port}/a`, '{}', {}, 2000);
    const second = await c.post(`http://127.0.0.1:${s.port}/b`, '{}', {}, 2000);
    const third = await c.post(`http://127.0.0.1:${s.port}/c`, '{"big":"' + 'y'.repeat(5000) + '"}', {}, 2000);
    expect([first.status, second.status, third.status]).toEqual([200, 200, 200]);
    expect(s.requests).toBe(3);
    expect(s.connections).toBe(1);
  });

  it('returns an error code for a URL it cannot deliver to', async () => {
    const c = client();
    expect((await c.post('not a url', '{}', {}, 1000)).errorCode).toBe('ERR_DELIVERY_INVALID_URL');
    expect((await c.post('ftp://example.com/', '{}', {}, 1000)).errorCode).toBe('ERR_DELIVERY_INVALID_URL');
  });

  describe('the read cap', () => {
    it('reads a body up to the cap to its end and pools the connection; one byte more is truncated, not pooled', async () => {
      const s = await serve((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('b'.repeat(req.url === '/over' ? 8193 : 8192));
      });
      const c = client(['127.0.0.0/8'], 8192);
      const atCap = await c.post(`http://127.0.0.1:${s.port}/at`, '{}', {}, 2000);
      const again = await c.post(`http://127.0.0.1:${s.port}/at`, '{}', {}, 2000);
      expect(atCap).toMatchObject({ ok: true, status: 200, bodyTruncated: false, errorCode: null });
      expect(again).toMatchObject({ ok: true, bodyTruncated: false });
      expect(s.connections).toBe(1);

      const over = await c.post(`http://127.0.0.1:${s.port}/over`, '{}', {}, 2000);
      expect(over).toMatchObject({ ok: true, status: 200, bodyTruncated: true, errorCode: null, errorMessage: null });
      expect(over.bodyExcerpt).toBe('b'.repeat(BODY_EXCERPT_BYTES));
      // the half-read connection was destroyed: the next post opens a new one
      const after = await c.post(`http://127.0.0.1:${s.port}/at`, '{}', {}, 2000);
      expect(after).toMatchObject({ ok: true, bodyTruncated: false });
      expect(s.connections).toBe(2);
      expect(s.requests).toBe(4);
    });

    it('is 64 KiB by default and never below the excerpt', async () => {
      expect(RESPONSE_READ_CAP_BYTES).toBe(64 * 1024);
      const s = await serve((_req, res) => res.end('c'.repeat(RESPONSE_READ_CAP_BYTES + 1)));
      const byDefault = await client().post(`http://127.0.0.1:${s.port}/`, '{}', {}, 2000);
      expect(byDefault).toMatchObject({ ok: true, bodyTruncated: true });
      const tiny = await client(['127.0.0.0/8'], 10).post(`http://127.0.0.1:${s.port}/`, '{}', {}, 2000);
      expect(tiny.bodyExcerpt).toHaveLength(BODY_EXCERPT_BYTES);
    });
  });

  describe('against hostile receivers', () => {
    const hostiles: HostileReceiver[] = [];
    const hostile = async (options: ConstructorParameters<typeof HostileReceiver>[0] = {}) => {
      const h = await new HostileReceiver(options).start();
      hostiles.push(h);
      return h;
    };
    afterEach(async () => {
      await Promise.all(hostiles.splice(0).map((h) => h.close()));
    });

    /** The receiver's side of the attempt's one connection, once the client has closed it. */
    const closedConnection = async (connections: () => HostileConnection[]): Promise<HostileConnection> => {
      for (let i = 0; i < 100; i += 1) {
        const [conn] = connections();
        if (conn?.closedAt != null) return conn;
        await sleep(20);
      }
      throw new Error('the connection was never closed');
    };
    const expectRetried = (result: AttemptResult, kind: string): void =>
      expect(classifyAttempt({ errorCode: result.errorCode ?? undefined, status: result.status ?? undefined })).toEqual(
        { kind, outcome: 'retry' },
      );

    it('a 100 MB body: the 2xx counts, at most the cap is read, the socket is destroyed, far less than 100 MB was sent', async () => {
      const h = await hostile();
      const result = await client().post(h.url('huge-body'), '{}', {}, 10_000);
      expect(result).toMatchObject({ ok: true, status: 200, errorCode: null, bodyTruncated: true });
      expect(result.bodyExcerpt).toBe('x'.repeat(BODY_EXCERPT_BYTES));
      const conn = await closedConnection(() => h.at('huge-body'));
      // what the kernel buffers on loopback at most (a few MB), not the body
      expect(conn.bytesWritten).toBeLessThan(HUGE_BODY_BYTES / 10);
    });

    it('headers dribbled a byte a second: ERR_DELIVERY_TIMEOUT at the timeout, retried, socket destroyed', async () => {
      const h = await hostile();
      const result = await client().post(h.url('slow-headers'), '{}', {}, 1200);
      expect(result).toMatchObject({ ok: false, status: null, errorCode: 'ERR_DELIVERY_TIMEOUT' });
      expectRetried(result, 'timeout');
      expect((await closedConnection(() => h.at('slow-headers'))).bytesWritten).toBeGreaterThan(0);
    });

    it('a body dribbled forever: ERR_DELIVERY_TIMEOUT with the status and what arrived, socket destroyed', async () => {
      const h = await hostile();
      const result = await client().post(h.url('slow-body'), '{}', {}, 1200);
      expect(result).toMatchObject({ ok: false, status: 200, errorCode: 'ERR_DELIVERY_TIMEOUT' });
      expect(result.bodyExcerpt).toMatch(/^s/);
      expectRetried(result, 'timeout');
      await closedConnection(() => h.at('slow-body'));
    });

    it('a server that accepts and never answers: ERR_DELIVERY_TIMEOUT, socket destroyed', async () => {
      const h = await hostile();
      const result = await client().post(h.url('silent'), '{}', {}, 500);
      expect(result).toMatchObject({ ok: false, status: null, errorCode: 'ERR_DELIVERY_TIMEOUT' });
      expectRetried(result, 'timeout');
      await closedConnection(() => h.at('silent'));
    });

    it('a reset mid-headers and mid-body: ECONNRESET, retried', async () => {
      const h = await hostile();
      const c = client();
      const midHeaders = await c.post(h.url('reset-headers'), '{}', {}, 5000);
      expect(midHeaders).toMatchObject({ ok: false, status: null, errorCode: 'ECONNRESET' });
      expectRetried(midHeaders, 'refused');
      const midBody = await c.post(h.url('reset-body'), '{}', {}, 5000);
      expect(midBody).toMatchObject({ ok: false, status: 200, errorCode: 'ECONNRESET', bodyExcerpt: 'first part' });
      expectRetried(midBody, 'refused');
    });

    it('a Content-Length larger than the body, then a clean close: ECONNRESET, with what arrived', async () => {
      const h = await hostile();
      const result = await client().post(h.url('short-body'), '{}', {}, 5000);
      expect(result).toMatchObject({ ok: false, status: 200, errorCode: 'ECONNRESET', bodyExcerpt: 'only 10 b.' });
      expectRetried(result, 'refused');
    });

    it('1 MB of response headers: refused by the parser (HPE_HEADER_OVERFLOW), retried', async () => {
      const h = await hostile();
      const result = await client().post(h.url('huge-headers'), '{}', {}, 5000);
      expect(result).toMatchObject({ ok: false, status: null, errorCode: 'HPE_HEADER_OVERFLOW' });
      expectRetried(result, 'network');
      const conn = await closedConnection(() => h.at('huge-headers'));
      expect(conn.closedAt).not.toBeNull();
    });

    it('bytes that are not HTTP: a parse error code, retried', async () => {
      const h = await hostile();
      const result = await client().post(h.url('garbage'), '{}', {}, 5000);
      expect(result).toMatchObject({ ok: false, status: null });
      expect(result.errorCode).toMatch(/^HPE_/);
      expectRetried(result, 'network');
    });

    it('an unasked-for 101 Switching Protocols: ERR_DELIVERY_PROTOCOL at once, the socket destroyed, retried', async () => {
      const h = await hostile();
      const result = await client().post(h.url('switch-protocols'), '{}', {}, 5000);
      expect(result).toMatchObject({ ok: false, status: 101, errorCode: 'ERR_DELIVERY_PROTOCOL' });
      expect(result.errorMessage).toBe('Unexpected 101 Switching Protocols to a POST');
      expectRetried(result, 'network');
      await closedConnection(() => h.at('switch-protocols'));
    });

    it('a flood of 103 Early Hints: cut off after 16 (ERR_DELIVERY_PROTOCOL), not read until the timeout', async () => {
      const h = await hostile();
      const result = await client().post(h.url('hints-flood'), '{}', {}, 5000);
      expect(result).toMatchObject({ ok: false, status: null, errorCode: 'ERR_DELIVERY_PROTOCOL' });
      expect(result.errorMessage).toBe(`More than ${MAX_INFORMATIONAL_RESPONSES} informational (1xx) responses`);
      expectRetried(result, 'network');
      await closedConnection(() => h.at('hints-flood'));
    });

    it('a few informational heads before the final response are fine', async () => {
      const s = await serve((_req, res) => {
        res.writeEarlyHints({ link: '</a.css>; rel=preload' });
        res.writeEarlyHints({ link: '</b.css>; rel=preload' });
        res.end('after hints');
      });
      const result = await client().post(`http://127.0.0.1:${s.port}/`, '{}', {}, 2000);
      expect(result).toMatchObject({ ok: true, status: 200, bodyExcerpt: 'after hints' });
    });

    it('a TLS handshake that never completes: ERR_DELIVERY_TIMEOUT', async () => {
      const h = await hostile(); // plain TCP: it never answers a ClientHello
      const result = await client().post(h.url('silent').replace(/^http:/, 'https:'), '{}', {}, 500);
      expect(result).toMatchObject({ ok: false, status: null, errorCode: 'ERR_DELIVERY_TIMEOUT' });
      await closedConnection(() => h.connections);
    });

    it.each([301, 302, 307, 308])(
      'a %i is not followed: a failed attempt with its status; the Location never fetched',
      async (code) => {
        const target = await serve((_req, res) => res.end('followed'));
        const h = await hostile({ redirectTarget: `http://127.0.0.1:${target.port}/landing` });
        const result = await client().post(h.url(`redirect-${code}` as 'redirect-301'), '{}', {}, 5000);
        expect(result).toMatchObject({ ok: false, status: code, errorCode: null, bodyTruncated: false });
        expectRetried(result, 'http_status');
        expect(target.connections).toBe(0);
        expect(target.requests).toBe(0);
      },
    );

    it('a self-signed certificate is refused by default (DEPTH_ZERO_SELF_SIGNED_CERT), no request sent, retried', async () => {
      const h = await hostile({ tls: true });
      const result = await client().post(h.url('empty'), '{}', {}, 5000);
      expect(result).toMatchObject({ ok: false, status: null, errorCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      expectRetried(result, 'tls');
      expect(h.connections).toEqual([]);
      // the server itself is sound: trusting its certificate, the same request gets its 200
      const trusted = await new Promise<number | undefined>((resolve, reject) => {
        const req = https.request(h.url('empty'), { method: 'POST', ca: SELF_SIGNED.cert, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on('error', reject);
        req.end('{}');
      });
      expect(trusted).toBe(200);
    });

    it('all at once beside a healthy receiver: the healthy one is answered at once, each hostile one classified', async () => {
      const healthy = await serve((_req, res) => res.end('fine'));
      const h = await hostile();
      const c = client();
      const hostileUrls = [
        'slow-headers',
        'slow-body',
        'silent',
        'huge-body',
        'reset-body',
        'garbage',
        'hints-flood',
      ] as const;
      const pending = hostileUrls.map((name) => c.post(h.url(name), '{}', {}, 1500));
      const settled: string[] = [];
      pending.forEach((p, i) => void p.then(() => settled.push(hostileUrls[i])));
      const fine = await c.post(`http://127.0.0.1:${healthy.port}/`, '{}', {}, 1500);
      expect(fine).toMatchObject({ ok: true, status: 200, bodyExcerpt: 'fine' });
      // the healthy post did not wait for the slow ones
      expect(settled).not.toContain('slow-headers');
      expect(settled).not.toContain('silent');
      const results = await Promise.all(pending);
      expect(results.map((r) => r.errorCode)).toEqual([
        'ERR_DELIVERY_TIMEOUT',
        'ERR_DELIVERY_TIMEOUT',
        'ERR_DELIVERY_TIMEOUT',
        null,
        'ECONNRESET',
        expect.stringMatching(/^HPE_/),
        'ERR_DELIVERY_PROTOCOL',
      ]);
    });
  });
});
