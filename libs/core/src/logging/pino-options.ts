import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import pino, { type DestinationStream, type Level } from 'pino';
import type { Options } from 'pino-http';
import PinoPretty from 'pino-pretty';
import type { AppConfig } from '../config/config.schema';
import { redactedKeySet, redactText, redactValue } from '../logger';

export type AppName = 'api' | 'worker';

/** LOG_LEVEL (Nest's level names) as pino's. */
export const PINO_LEVEL: Readonly<Record<AppConfig['LOG_LEVEL'], Level>> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * A caller's `x-request-id` is kept when it is 1 to 128 characters of letters, digits and `._:-/+=@`
 * (UUIDs, ULIDs, trace ids); anything else is replaced by a new id, so a log line never carries
 * a caller's arbitrary text (or a line break) as its request id.
 */
const REQUEST_ID = /^[A-Za-z0-9._:/+=@-]{1,128}$/;

/** The request id of an incoming request: the caller's `x-request-id` if it is acceptable, else a new UUID. */
export function requestIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && REQUEST_ID.test(value) ? value : randomUUID();
}

/** A finished HTTP request, as the api's request log line describes it. */
export interface FinishedRequest {
  requestId: string;
  method: string;
  /** The route pattern (`/ipm/webhook/get`, `/ipm/bulk/upload/:token`), or null when none matched. */
  route: string | null;
  /** The URL as requested (only its path is ever logged, and only when no route matched). */
  url: string;
  status: number;
  /** Milliseconds from arrival to the response's last byte. */
  durationMs: number;
  /** The tenant (`x-orgcode`) the caller was admitted to, or null. */
  tenant: string | null;
  /** The app the caller is bound to, or null. */
  appId: string | null;
}

/** Routes polled by orchestrators and scrapers: their request lines are logged at `debug`, not `info`. */
const PROBE_ROUTE = /^\/(health|metrics)(\/|$)/;

const MAX_PATH = 200;

/** The level of a request's line: 5xx `error`, successful probes `debug`, the rest `info`. */
export function requestLogLevel(route: string | null, status: number): Level {
  if (status >= 500) return 'error';
  return status < 400 && PROBE_ROUTE.test(route ?? '') ? 'debug' : 'info';
}

/**
 * A request's log line: level (5xx `error`, successful probes `debug`, the rest `info`), fields and
 * message. The URL is never logged as such: its query may carry anything and a signed bulk URL's path
 * is a credential. The route pattern is; only a request no route matched gets its path, scrubbed and cut.
 */
export function requestLogLine(
  r: FinishedRequest,
  level: Level = requestLogLevel(r.route, r.status),
): { level: Level; fields: Record<string, unknown>; msg: string } {
  const fields: Record<string, unknown> = {
    request_id: r.requestId,
    method: r.method,
    route: r.route,
    ...(r.route === null ? { path: redactText(r.url.split('?')[0]).slice(0, MAX_PATH) } : {}),
    status: r.status,
    duration_ms: Math.round(r.durationMs * 100) / 100,
    tenant: r.tenant,
    app_id: r.appId,
  };
  return { level, fields, msg: r.status >= 500 ? 'request failed' : 'request completed' };
}

/** Where records go: stdout as JSON lines, or pretty-printed for people (LOG_FORMAT=text). */
export function logDestination(config: Pick<AppConfig, 'LOG_FORMAT'>): DestinationStream {
  if (config.LOG_FORMAT === 'text') {
    return PinoPretty({
      sync: true,
      colorize: process.stdout.isTTY,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,app,build',
      messageKey: 'msg',
    });
  }
  // Asynchronous writes: a record never blocks the event loop on stdout, and records logged while a write
  // is under way go out together in the next one (under load, one write for many request lines; idle, at
  // once). What is buffered is flushed synchronously when the process exits (pino registers it); only a
  // SIGKILL can lose the records of the write in flight.
  return pino.destination({ dest: 1, sync: false });
}

/** The fields bound to the records of the work under way (a request, a job), across its awaits. */
const logFields = new AsyncLocalStorage<Readonly<Record<string, unknown>>>();

/**
 * Runs `fn` with `fields` added to every log record made inside it, across its awaits, on top of the
 * surrounding work's (a delivery inside a batch job keeps the job's). The worker binds a job's queue, id and
 * delivery ids this way. Nothing is computed until a record is written: pino's `mixin` reads the fields
 * then. (The api does not bind its requests: AsyncLocalStorage costs a light route a quarter of its
 * throughput on Node 20; its request and error lines carry `request_id` themselves.)
 */
export function withLogFields<T>(fields: Readonly<Record<string, unknown>>, fn: () => T): T {
  const outer = logFields.getStore();
  return logFields.run(outer ? { ...outer, ...fields } : fields, fn);
}

const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * pino's options for one app (given to nestjs-pino as its pino-http options; its request middleware is not
 * used): level from LOG_LEVEL, ISO times, level names, the fields of {@link withLogFields} on every record,
 * and every record redacted (property names from REDACTED_KEYS and LOG_REDACT_KEYS at any depth;
 * credentials recognised by shape in messages, values and stacks).
 */
export function pinoHttpOptions(
  config: Pick<AppConfig, 'LOG_LEVEL' | 'LOG_REDACT_KEYS' | 'BUILD_ID'>,
  app: AppName,
): Options<IncomingMessage, ServerResponse> {
  const keys = redactedKeySet(config.LOG_REDACT_KEYS);
  return {
    level: PINO_LEVEL[config.LOG_LEVEL],
    base: { app, build: config.BUILD_ID, pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => logFields.getStore() ?? NO_FIELDS,
    // A new object (pino's default assigns into the mixin's, which is the shared context); a record's own
    // fields win over the context's. Object.assign, not a spread: measured 2x faster per record here.
    mixinMergeStrategy: (record: object, fields: object) =>
      fields === NO_FIELDS ? record : Object.assign({}, fields, record),
    formatters: {
      level: (label) => ({ level: label }),
      log: (record) => redactValue(record, keys) as Record<string, unknown>,
    },
    hooks: {
      // Strings passed as the message (or as printf arguments) are scrubbed too.
      logMethod(args, method) {
        const scrubbed = args.map((a: unknown) => (typeof a === 'string' ? redactText(a) : a)) as typeof args;
        return method.apply(this, scrubbed);
      },
    },
    serializers: { err: pino.stdSerializers.err },
    autoLogging: false,
  };
}
