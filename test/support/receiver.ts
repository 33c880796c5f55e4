import { createServer, IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';

/** One request as the receiver got it: the raw body is what a signature is verified against. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver answers on a path; the default is 204. */
export interface Behaviour {
  status?: number;
  /** A JSON (or string) body to answer with; a function gets the request (e.g. to echo a challenge). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (the socket stays open until the client gives up or the receiver closes). */
  hang?: boolean;
  /** Destroy the connection without answering. */
  reset?: boolean;
}

/**
 * A real HTTP receiver on an ephemeral 127.0.0.1 port for delivery tests: records every request
 * and answers per path (`on(path, behaviour)`, or a function for per-request decisions).
 */
export class TestReceiver {
  readonly received: Received[] = [];
  private readonly behaviours = new Map<string, Behaviour | ((req: Received) => Behaviour)>();
  private readonly sockets = new Set<Socket>();
  private server?: Server;

  get origin(): string {
    const { port } = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  url(path: string): string {
    return `${this.origin}${path.startsWith('/') ? path : `/${path}`}`;
  }

  on(path: string, behaviour: Behaviour | ((req: Received) => Behaviour)): this {
    this.behaviours.set(path, behaviour);
    return this;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return this;
  }

  /** Waits until `count` requests reached `path` (or any path when omitted). */
  async waitFor(count: number, path?: string, timeoutMs = 15_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = path === undefined ? this.received : this.at(path);
      if (got.length >= count) return got;
      if (Date.now() > deadline) {
        throw new Error(`receiver: ${got.length} of ${count} request(s) to ${path ?? 'any path'} in ${timeoutMs} ms`);
      }
      await sleep(25);
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '/').split('?')[0];
    const entry: Received = {
      path,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      at: Date.now(),
    };
    this.received.push(entry);
    const configured = this.behaviours.get(path) ?? {};
    const behaviour = typeof configured === 'function' ? configured(entry) : configured;
    if (behaviour.hang) return;
    if (behaviour.reset) {
      req.socket.destroy();
      return;
    }
    if (behaviour.delayMs) await sleep(behaviour.delayMs);
    const body =
      typeof behaviour.body === 'function' ? (behaviour.body as (r: Received) => unknown)(entry) : behaviour.body;
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(behaviour.status ?? (text ? 200 : 204), {
      ...(text && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
      ...behaviour.headers,
    });
    res.end(text);
  }
}

/**
 * Before a worker starts in a test file: the run's database holds earlier files' events and
 * deliveries, whose receivers are gone. Their outbox rows are dropped and their unfinished
 * deliveries failed, so that this file's worker delivers only this file's work.
 */
export async function quietDatabase(db: DataSource): Promise<void> {
  await db.query('DELETE FROM event_outbox');
  await db.query(
    `UPDATE deliveries SET status = 'failed', finished_at = now(), last_error = 'test run: quieted'
      WHERE status IN ('pending', 'retrying', 'in_flight')`,
  );
  await db.query(
    `UPDATE webhook_replays SET status = 'failed', finished_at = now() WHERE status IN ('queued', 'running')`,
  );
}
