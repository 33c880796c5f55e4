import { clientErrorResponse, type ClientConnectionError } from './client-error';

const parse = (raw: string) => {
  const [head, body] = raw.split('\r\n\r\n');
  const [statusLine, ...headers] = head.split('\r\n');
  return {
    statusLine,
    headers: Object.fromEntries(headers.map((h) => h.split(': ') as [string, string])),
    body: JSON.parse(body) as Record<string, unknown>,
    bodyBytes: Buffer.byteLength(body),
  };
};

const error = (code: string, rawPacket?: string): ClientConnectionError =>
  Object.assign(new Error(code), { code, rawPacket: rawPacket === undefined ? undefined : Buffer.from(rawPacket) });

describe('clientErrorResponse', () => {
  const now = new Date('2026-01-02T03:04:05.000Z');

  it('answers a header overflow with a 431 envelope naming the call', () => {
    const res = parse(
      clientErrorResponse(error('HPE_HEADER_OVERFLOW', 'POST /ipm/webhook/list HTTP/1.1\r\nx-big: aaaa'), 'b1', now),
    );
    expect(res.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(res.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(res.bodyBytes),
      connection: 'close',
      'x-request-id': expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
    });
    expect(res.body).toEqual({
      success: false,
      error: { code: 'headers_too_large', message: expect.stringContaining('too large') as string },
      build: { build_id: 'b1' },
      stats: { call: 'POST /webhook/list', service: 'ipm', timestamp_utc: '2026-01-02T03:04:05.000Z' },
    });
  });

  it('still answers with the envelope when the request line is not in the packet', () => {
    const res = parse(clientErrorResponse(error('HPE_HEADER_OVERFLOW', 'aaaaaaaa'), 'b1', now));
    expect(res.body).toMatchObject({ success: false, stats: { call: 'UNKNOWN /' } });
    expect(parse(clientErrorResponse(error('HPE_HEADER_OVERFLOW'), 'b1', now)).body).toMatchObject({
      error: { code: 'headers_too_large' },
    });
  });

  it('408 for a timeout, 400 for bytes that are not HTTP', () => {
    const timeout = parse(clientErrorResponse(error('ERR_HTTP_REQUEST_TIMEOUT'), 'b1', now));
    expect(timeout.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(timeout.body).toMatchObject({ success: false, error: { code: 'request_timeout' } });
    const garbage = parse(clientErrorResponse(error('HPE_INVALID_METHOD', '\x16\x03\x01'), 'b1', now));
    expect(garbage.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(garbage.body).toMatchObject({ error: { code: 'validation_failed' } });
  });

  it('keeps what a client sent out of the headers: the path only goes into the JSON body', () => {
    const raw = clientErrorResponse(error('HPE_HEADER_OVERFLOW', 'GET /ipm/"quoted"?a=<b> HTTP/1.1\r\n'), 'b1', now);
    const res = parse(raw);
    expect(res.body).toMatchObject({ stats: { call: 'GET /"quoted"' } });
  });
});
