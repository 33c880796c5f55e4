import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { DeliveryClient } from './delivery-client';

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
  const client = (allowlist: string[] = ['127.0.0.0/8']): DeliveryClient => {
    const c = new DeliveryClient({ allowlist, userAgent: 'IPM-Webhooks/1.0' });
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
});
