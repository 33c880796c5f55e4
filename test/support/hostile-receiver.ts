import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';

/** The self-signed certificate (CN ipm-test-self-signed, SAN 127.0.0.1 and localhost, valid to 2126) and its key. */
export const SELF_SIGNED = {
  cert: readFileSync(join(__dirname, '../fixtures/tls/self-signed.crt')),
  key: readFileSync(join(__dirname, '../fixtures/tls/self-signed.key')),
};

/** 100 MB: what `huge-body` offers to send. */
export const HUGE_BODY_BYTES = 100 * 1024 * 1024;
/** 1 MB of response headers for `huge-headers`. */
export const HUGE_HEADERS_BYTES = 1024 * 1024;

/**
 * What a hostile endpoint does once it has read a request, chosen by the request's path, `/<hostility>`
 * (a suffix after a second `/` is ignored, e.g. `/silent/hook-3`):
 * - `slow-headers`: a status line and headers dribbled one byte a second, never finished;
 * - `slow-body`: a 200 head with a 1 MB Content-Length, then the body one byte a second;
 * - `silent`: reads the request and never answers;
 * - `reset-headers`: half a status line, then a TCP reset;
 * - `reset-body`: a 200 head with a Content-Length and part of the body, then a TCP reset;
 * - `short-body`: a 200 head announcing 1000 bytes, 10 bytes, then a clean close;
 * - `huge-body`: a 200 with a 100 MB body, written as fast as the client takes it (never buffered here);
 * - `huge-headers`: a 200 with 1 MB of headers;
 * - `garbage`: bytes that are not HTTP at all;
 * - `switch-protocols`: a `101 Switching Protocols` nobody asked for, then bytes of another protocol, kept open;
 * - `hints-flood`: `103 Early Hints` heads, as fast as the client takes them, forever;
 * - `redirect-301`, `redirect-302`, `redirect-307`, `redirect-308`: that status, `Location` the receiver's
 *   redirect target, then close;
 * - `wrong-challenge`: a 200 with a JSON challenge that is not the one sent;
 * - `empty`: a 200 with no body;
 * - `error-500`: a 500.
 */
export type Hostility =
  | 'slow-headers'
  | 'slow-body'
  | 'silent'
  | 'reset-headers'
  | 'reset-body'
  | 'short-body'
  | 'huge-body'
  | 'huge-headers'
  | 'garbage'
  | 'switch-protocols'
  | 'hints-flood'
  | 'redirect-301'
  | 'redirect-302'
  | 'redirect-307'
  | 'redirect-308'
  | 'wrong-challenge'
  | 'empty'
  | 'error-500';

/** One connection as the hostile receiver saw it. */
export interface HostileConnection {
  hostility: Hostility | null;
  /** Bytes this side handed to the socket (what the client was offered, at most). */
  bytesWritten: number;
  /** When the client's side closed it, or null while it is open. */
  closedAt: number | null;
  openedAt: number;
}

export interface HostileReceiverOptions {
  /** Serve over TLS with the self-signed fixture certificate. */
  tls?: boolean;
  /** Where the redirects point (an absolute URL); the test proves it is never fetched. */
  redirectTarget?: string;
}

/**
 * A raw TCP (or TLS) server on an ephemeral 127.0.0.1 port that reads one HTTP request per connection and
 * then misbehaves as its path says ({@link Hostility}); every connection is recorded. Timers are unref'd
 * and everything is torn down by `close()`.
 */
export class HostileReceiver {
  readonly connections: HostileConnection[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server?: Server | TlsServer;

  constructor(private readonly options: HostileReceiverOptions = {}) {}

  get origin(): string {
    const { port } = this.server?.address() as AddressInfo;
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  }

  url(hostility: Hostility, suffix = ''): string {
    return `${this.origin}/${hostility}${suffix ? `/${suffix}` : ''}`;
  }

  /** The connections that asked for `hostility`. */
  at(hostility: Hostility): HostileConnection[] {
    return this.connections.filter((c) => c.hostility === hostility);
  }

  async start(): Promise<this> {
    const onSocket = (socket: Socket): void => this.accept(socket);
    this.server = this.options.tls
      ? createTlsServer({ ...SELF_SIGNED }, onSocket).on('tlsClientError', () => undefined)
      : createServer(onSocket);
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(socket: Socket): void {
    const conn: HostileConnection = { hostility: null, bytesWritten: 0, closedAt: null, openedAt: Date.now() };
    this.connections.push(conn);
    this.sockets.add(socket);
    socket.on('error', () => undefined); // EPIPE / ECONNRESET once the client gives up: expected
    socket.on('close', () => {
      conn.bytesWritten = socket.bytesWritten;
      conn.closedAt = Date.now();
      this.sockets.delete(socket);
    });
    let head = Buffer.alloc(0);
    let needed: number | null = null;
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (needed === null) {
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.subarray(0, end).toString('latin1');
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1];
        needed = end + 4 + Number(length ?? 0);
        const path = /^[A-Z]+ (\S+)/.exec(text)?.[1] ?? '/';
        conn.hostility = (path.split('/')[1] ?? '') as Hostility;
      }
      if (head.length < needed) return;
      socket.off('data', onData);
      socket.resume(); // anything more (a pipelined request) is ignored
      this.misbehave(socket, conn);
    };
    socket.on('data', onData);
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Writes `text` one byte per `everyMs`, forever (or while the socket lives). */
  private dribble(socket: Socket, text: string, everyMs: number): void {
    let i = 0;
    const step = (): void => {
      if (socket.destroyed) return;
      socket.write(text[i % text.length]);
      i += 1;
      this.later(everyMs, step);
    };
    step();
  }

  private misbehave(socket: Socket, conn: HostileConnection): void {
    const send = (text: string): void => void socket.end(text);
    switch (conn.hostility) {
      case 'slow-headers':
        return this.dribble(socket, 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: ' + 'z'.repeat(4096), 1000);
      case 'slow-body':
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1048576\r\n\r\n');
        return this.dribble(socket, 'slow', 1000);
      case 'silent':
        return;
      case 'reset-headers':
        socket.write('HTTP/1.1 20');
        return this.later(50, () => socket.resetAndDestroy());
      case 'reset-body':
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\nfirst part');
        return this.later(50, () => socket.resetAndDestroy());
      case 'short-body':
        return send('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly 10 b.');
      case 'huge-body':
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${HUGE_BODY_BYTES}\r\n\r\n`);
        return this.flood(socket, Buffer.alloc(64 * 1024, 'x'), HUGE_BODY_BYTES);
      case 'huge-headers': {
        const line = `X-Filler: ${'h'.repeat(1000)}\r\n`;
        const lines = line.repeat(Math.ceil(HUGE_HEADERS_BYTES / line.length));
        return send(`HTTP/1.1 200 OK\r\n${lines}Content-Length: 0\r\n\r\n`);
      }
      case 'garbage':
        return send('\u0000\u00ff\u0013 this is not HTTP at all \u0007\r\n\r\n');
      case 'switch-protocols':
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
        return this.dribble(socket, '\u0081\u0005hello', 100);
      case 'hints-flood':
        return this.flood(
          socket,
          Buffer.from('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n'.repeat(500)),
        );
      case 'redirect-301':
      case 'redirect-302':
      case 'redirect-307':
      case 'redirect-308': {
        const status = conn.hostility.slice('redirect-'.length);
        const location = this.options.redirectTarget ?? '/never';
        return send(
          `HTTP/1.1 ${status} Moved\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
        );
      }
      case 'wrong-challenge':
        return send(json(200, '{"challenge":"not-the-one-you-sent"}'));
      case 'empty':
        return send('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      case 'error-500':
        return send(json(500, '{"error":"internal"}'));
      default:
        return send(json(404, '{"error":"no such hostility"}'));
    }
  }

  /** Writes `chunk` over and over (`total` bytes, or until the socket closes), as fast as the client reads. */
  private flood(socket: Socket, chunk: Buffer, total = Infinity): void {
    let left = total;
    const pump = (): void => {
      while (left > 0 && !socket.destroyed) {
        left -= chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (left <= 0) socket.end();
    };
    pump();
  }
}

function json(status: number, body: string): string {
  const reason = status === 200 ? 'OK' : 'Error';
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
