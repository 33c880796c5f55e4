import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';

import { createSafeLookup, SSRF_BLOCKED } from './net/safe-lookup';
import { createAddressFilter } from './net/ssrf';

/** The error code of an attempt that exceeded its whole-attempt timeout (connect + response). */
export const DELIVERY_TIMEOUT = 'ERR_DELIVERY_TIMEOUT';
/** The error code of a URL that cannot be delivered to at all (unparseable, not http(s)). */
export const DELIVERY_INVALID_URL = 'ERR_DELIVERY_INVALID_URL';

/**
 * The error code of a response that breaks the exchange: a `101 Switching Protocols` to our POST (which asks
 * for no upgrade), or more than {@link MAX_INFORMATIONAL_RESPONSES} informational (1xx) heads before the final one.
 */
export const DELIVERY_PROTOCOL_ERROR = 'ERR_DELIVERY_PROTOCOL';
/** Informational (1xx) responses tolerated before the final response; a flood of them is cut off. */
export const MAX_INFORMATIONAL_RESPONSES = 16;

/** How many bytes of a response body an attempt keeps as its excerpt. */
export const BODY_EXCERPT_BYTES = 4096;
/**
 * How many bytes of a response body an attempt reads at most (default). A longer body is not read to its end:
 * the connection is destroyed at the cap (never returned half-read to the keep-alive pool) and the attempt
 * stands on its status, the body being irrelevant; {@link AttemptResult.bodyTruncated} says so.
 */
export const RESPONSE_READ_CAP_BYTES = 64 * 1024;
/** The largest response head (status line and headers) accepted; a larger one fails the attempt (HPE_HEADER_OVERFLOW). */
export const RESPONSE_HEADER_CAP_BYTES = 16 * 1024;

/** The response headers an attempt records; every other header is dropped. */
export const HEADERS_OF_NOTE = [
  'content-type',
  'retry-after',
  'content-length',
  'server',
  'x-request-id',
  'date',
] as const;

/** The outcome of one POST: never thrown, always returned. */
export interface AttemptResult {
  /** True for a 2xx response. */
  ok: boolean;
  /** The HTTP status, or `null` when no response arrived. */
  status: number | null;
  /** Wall time of the attempt in milliseconds (connect, request, response head and body). */
  durationMs: number;
  /** The headers of note only ({@link HEADERS_OF_NOTE}), lower-case names. */
  responseHeaders: Record<string, string>;
  /** The first {@link BODY_EXCERPT_BYTES} bytes of the body, decoded as UTF-8. */
  bodyExcerpt: string;
  /** `ERR_SSRF_BLOCKED`, `ERR_DELIVERY_TIMEOUT`, `ECONNREFUSED`, `ENOTFOUND`, `CERT_…`, `ECONNRESET`…, or `null`. */
  errorCode: string | null;
  errorMessage: string | null;
  /** True when the body was longer than the read cap: the rest was never read and the connection was closed. */
  bodyTruncated?: boolean;
}

export interface DeliveryClientOptions {
  /** CIDRs whose non-public addresses may be connected to (`AppConfig.allowlist`). */
  allowlist: string[];
  userAgent: string;
  /** Concurrent sockets per origin (default 16). */
  maxSocketsPerOrigin?: number;
  /** Response body bytes read at most (default {@link RESPONSE_READ_CAP_BYTES}, never below the excerpt). */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_SOCKETS = 16;

/**
 * Posts webhook payloads over pooled keep-alive connections (one pool per origin), with a whole-attempt
 * timeout, no redirects, and the SSRF check made at connect time: hostnames through a safe `lookup`
 * (a DNS answer that turned private is refused), IP literals (which Node never looks up) before connecting.
 *
 * A hostile receiver cannot hold an attempt longer than its timeout (slow headers, a body that never ends,
 * no answer at all), nor make it read more than the read cap of body or the header cap of head; certificates
 * are verified against the default CAs; on any failure the connection is destroyed, never pooled.
 */
export class DeliveryClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly refusal: (ip: string) => string | null;
  private readonly userAgent: string;
  private readonly maxResponseBytes: number;

  constructor(options: DeliveryClientOptions) {
    const lookup = createSafeLookup({ allowlist: options.allowlist });
    const maxSockets = options.maxSocketsPerOrigin ?? DEFAULT_MAX_SOCKETS;
    const agentOptions = { keepAlive: true, maxSockets, scheduling: 'lifo' as const, lookup };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
    this.refusal = createAddressFilter(options.allowlist);
    this.userAgent = options.userAgent;
    this.maxResponseBytes = Math.max(options.maxResponseBytes ?? RESPONSE_READ_CAP_BYTES, BODY_EXCERPT_BYTES);
  }

  /** POSTs `body` as JSON to `url`; resolves with the outcome, whatever happens on the network. */
  async post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<AttemptResult> {
    const started = performance.now();
    const failure = (errorCode: string, errorMessage: string): AttemptResult => ({
      ok: false,
      status: null,
      durationMs: elapsed(started),
      responseHeaders: {},
      bodyExcerpt: '',
      errorCode,
      errorMessage,
      bodyTruncated: false,
    });

    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return failure(DELIVERY_INVALID_URL, `Invalid URL: ${url}`);
    }
    const secure = target.protocol === 'https:';
    if (!secure && target.protocol !== 'http:') {
      return failure(DELIVERY_INVALID_URL, `Unsupported scheme ${target.protocol} in ${url}`);
    }
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host.replace(/%.*$/, '')) !== 0) {
      const reason = this.refusal(host);
      if (reason) return failure(SSRF_BLOCKED, `Refusing to connect to ${host}: it is a ${reason} address`);
    }

    const payload = Buffer.from(body, 'utf8');
    // Null prototype: a header named __proto__ is a key like any other, not the object's prototype.
    const requestHeaders = Object.create(null) as Record<string, string>;
    for (const [name, value] of Object.entries(headers)) requestHeaders[name.toLowerCase()] = value;
    requestHeaders['content-type'] = 'application/json';
    requestHeaders['user-agent'] = this.userAgent;
    requestHeaders['content-length'] = String(payload.length);

    return new Promise<AttemptResult>((resolve) => {
      let settled = false;
      let status: number | null = null;
      let responseHeaders: Record<string, string> = {};
      const chunks: Buffer[] = [];
      let kept = 0;
      let read = 0;
      let truncated = false;

      const finish = (errorCode: string | null, errorMessage: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const excerpt = Buffer.concat(chunks, kept).toString('utf8');
        resolve({
          ok: errorCode === null && status !== null && status >= 200 && status < 300,
          status,
          durationMs: elapsed(started),
          responseHeaders,
          bodyExcerpt: excerpt,
          errorCode,
          errorMessage,
          bodyTruncated: truncated,
        });
      };
      /** Ends the attempt as it stands and closes its connection, whatever state the exchange is in. */
      const abandon = (errorCode: string | null, errorMessage: string | null): void => {
        finish(errorCode, errorMessage);
        req.destroy();
        req.socket?.destroy();
      };

      const options: http.RequestOptions = {
        method: 'POST',
        protocol: target.protocol,
        hostname: host,
        port: target.port === '' ? undefined : Number(target.port),
        path: `${target.pathname}${target.search}`,
        headers: requestHeaders,
        agent: secure ? this.httpsAgent : this.httpAgent,
        maxHeaderSize: RESPONSE_HEADER_CAP_BYTES,
        insecureHTTPParser: false,
      };
      if (target.username !== '' || target.password !== '') {
        options.auth = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
      }

      const req = (secure ? https : http).request(options, (res) => {
        status = res.statusCode ?? null;
        responseHeaders = pickHeadersOfNote(res.headers);
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          if (kept < BODY_EXCERPT_BYTES) {
            const part = chunk.subarray(0, BODY_EXCERPT_BYTES - kept);
            chunks.push(part);
            kept += part.length;
          }
          read += chunk.length;
          if (read > this.maxResponseBytes) {
            // The status is in; the rest of the body is not worth reading. Not pooled: it is half-read.
            truncated = true;
            abandon(null, null);
          }
        });
        res.on('end', () => finish(null, null));
        res.on('error', (err: Error) => finish(errorCodeOf(err), err.message));
        res.on('close', () => {
          if (!res.complete) finish('ECONNRESET', 'The connection closed before the response body ended');
        });
      });

      let informational = 0;
      req.on('information', () => {
        informational += 1;
        if (informational > MAX_INFORMATIONAL_RESPONSES) {
          abandon(DELIVERY_PROTOCOL_ERROR, `More than ${MAX_INFORMATIONAL_RESPONSES} informational (1xx) responses`);
        }
      });
      // Node hands a 101 to 'upgrade' listeners and otherwise leaves the socket open: close it at once.
      req.on('upgrade', (res: http.IncomingMessage, socket: Duplex) => {
        status = res.statusCode ?? null;
        responseHeaders = pickHeadersOfNote(res.headers);
        finish(DELIVERY_PROTOCOL_ERROR, `Unexpected ${status ?? 101} Switching Protocols to a POST`);
        socket.destroy();
      });

      const timer = setTimeout(
        () => abandon(DELIVERY_TIMEOUT, `No complete response within ${timeoutMs} ms`),
        timeoutMs,
      );

      req.on('error', (err: Error) => finish(errorCodeOf(err), err.message));
      req.end(payload);
    });
  }

  /** Destroys both pools and every socket they hold. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function pickHeadersOfNote(headers: http.IncomingHttpHeaders): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of HEADERS_OF_NOTE) {
    const value = headers[name];
    if (value !== undefined) picked[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return picked;
}

/** The error's `code` (or, for an `AggregateError` of several connect attempts, the first inner code). */
function errorCodeOf(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code !== '') return code;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const innerCode = inner instanceof Error ? (inner as NodeJS.ErrnoException).code : undefined;
      if (typeof innerCode === 'string' && innerCode !== '') return innerCode;
    }
  }
  return 'ERR_DELIVERY_FAILED';
}
