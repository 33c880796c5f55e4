import { HttpException, HttpStatus } from '@nestjs/common';
import { AppError, ErrorCode, ErrorDetail } from '../errors';
import { ErrorBody } from '../envelope';
import { IdPrefix, newId } from '../ids';

export interface RenderedError {
  status: number;
  body: ErrorBody;
  /** The original error, when it is a server fault worth logging with its stack. */
  fault?: unknown;
  /** Why a dependency counts as unavailable (a 503 that is no fault of the api's own): worth a warning. */
  unavailable?: string;
}

/** SQLSTATEs of a PostgreSQL that is down, starting, shutting down or out of connections. */
const PG_UNAVAILABLE = /^(08\d{3}|57P0[1-3]|53300)$/;
/** Socket errors of a dependency that is unreachable. */
const SOCKET_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);
/** Messages of node-postgres, its pool and ioredis when their connection is gone (they carry no code). */
const MESSAGE_UNAVAILABLE = [
  /^Connection terminated/, // node-postgres: "... unexpectedly", "... due to connection timeout"
  /^timeout exceeded when trying to connect$/, // pg-pool: no connection in connectionTimeoutMillis
  /^Client has encountered a connection error and is not queryable$/,
  /^Connection is closed\.?$/, // ioredis
  /^Reached the max retries per request limit/, // ioredis MaxRetriesPerRequestError
  /^Stream isn't writeable and enableOfflineQueue options is false$/, // ioredis, offline
  // TypeORM, when a transaction goes on after its connection died (PostgreSQL restarted under it).
  /^Query runner already released\. Cannot run queries anymore/,
  /^Database connection provided by a query runner was already released/,
];

/**
 * Why `err` says that PostgreSQL or Redis is unavailable (and not that the request or the code is wrong),
 * or null. Looks through TypeORM's `driverError`, `cause` chains and AggregateError (pg tries each address).
 */
export function dependencyUnavailable(err: unknown, depth = 0): string | null {
  if (typeof err !== 'object' || err === null || depth > 4) return null;
  const e = err as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : '';
  if (code !== undefined && (PG_UNAVAILABLE.test(code) || SOCKET_UNAVAILABLE.has(code))) {
    return `${code}${message ? ` ${message}` : ''}`;
  }
  if (MESSAGE_UNAVAILABLE.some((re) => re.test(message))) return message;
  for (const inner of [e.driverError, e.cause, ...(Array.isArray(e.errors) ? (e.errors as unknown[]) : [])]) {
    const why = dependencyUnavailable(inner, depth + 1);
    if (why !== null) return why;
  }
  return null;
}

/** The code of an error that carries none of its own, by status (the OpenAPI document lists them all). */
export const CODE_BY_STATUS: Record<number, string> = {
  400: ErrorCode.ValidationFailed,
  401: ErrorCode.Unauthorized,
  403: ErrorCode.Forbidden,
  404: ErrorCode.NotFound,
  405: ErrorCode.MethodNotAllowed,
  408: ErrorCode.RequestTimeout,
  409: ErrorCode.Conflict,
  413: ErrorCode.PayloadTooLarge,
  414: 'uri_too_long',
  415: ErrorCode.UnsupportedMediaType,
  422: ErrorCode.Unprocessable,
  428: ErrorCode.PreconditionRequired,
  431: ErrorCode.HeadersTooLarge,
  429: ErrorCode.RateLimited,
  503: ErrorCode.Unavailable,
};

/** The code of a client error of a status without its own code. */
export const UNMAPPED_CLIENT_ERROR = 'client_error';

interface FrameworkError {
  statusCode: number;
  code?: string;
  message: string;
}

function isFrameworkClientError(err: unknown): err is FrameworkError {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Partial<FrameworkError>;
  return typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500;
}

function frameworkMessage(err: FrameworkError): { code: string; message: string } {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: ErrorCode.PayloadTooLarge, message: 'Request body is too large' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: ErrorCode.UnsupportedMediaType, message: 'Content-Type must be application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        code: ErrorCode.ValidationFailed,
        message: 'Body must not be empty when Content-Type is application/json',
      };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: ErrorCode.ValidationFailed, message: 'Content-Length does not match the body' };
    default:
      if (err.statusCode === 400 && (err instanceof SyntaxError || /JSON/i.test(err.message))) {
        return { code: ErrorCode.ValidationFailed, message: 'Malformed JSON body' };
      }
      return { code: CODE_BY_STATUS[err.statusCode] ?? UNMAPPED_CLIENT_ERROR, message: err.message };
  }
}

function httpExceptionMessage(ex: HttpException): string {
  const res = ex.getResponse();
  if (typeof res === 'string') return res;
  const msg = (res as { message?: unknown }).message;
  if (Array.isArray(msg)) return msg.join('; ');
  return typeof msg === 'string' ? msg : ex.message;
}

/**
 * Maps any thrown value to a status and the envelope's `error` object. Client errors keep
 * their message; anything else becomes a 500 whose message says nothing about internals and
 * whose `error_id` is logged with the stack.
 */
export function renderError(err: unknown): RenderedError {
  if (err instanceof AppError) {
    return { status: err.status, body: { code: err.code, message: err.message, details: err.details } };
  }
  if (err instanceof HttpException && err.getStatus() < 500) {
    const status = err.getStatus();
    let message = httpExceptionMessage(err);
    // Nest's router says "Cannot POST /x": say it in our words.
    const route = /^Cannot (\w+) (.+)$/.exec(message);
    if (status === 404 && route) message = `No route ${route[1]} ${route[2]}`;
    const details: ErrorDetail[] | undefined = status === 400 ? [{ message }] : undefined;
    return { status, body: { code: CODE_BY_STATUS[status] ?? UNMAPPED_CLIENT_ERROR, message, details } };
  }
  if (isFrameworkClientError(err)) {
    const { code, message } = frameworkMessage(err);
    const status = code === ErrorCode.PayloadTooLarge ? 413 : err.statusCode;
    // Fastify's own 400s are all about the body (its length, its JSON): name it, like every validation error.
    return { status, body: { code, message, details: status === 400 ? [{ field: 'body', message }] : undefined } };
  }
  if (err instanceof HttpException && err.getStatus() === 503) {
    // Health checks: say which dependency is down.
    const res = err.getResponse() as { details?: unknown };
    return {
      status: HttpStatus.SERVICE_UNAVAILABLE,
      body: {
        code: ErrorCode.Unavailable,
        message: 'A dependency is unavailable',
        details: [{ message: 'dependency check failed', checks: res.details ?? res }],
      },
    };
  }
  const unavailable = dependencyUnavailable(err);
  if (unavailable !== null) {
    // PostgreSQL or Redis down or restarting: the client may retry; not a fault of ours.
    return {
      status: HttpStatus.SERVICE_UNAVAILABLE,
      body: { code: ErrorCode.Unavailable, message: 'A dependency is unavailable; retry shortly' },
      unavailable,
    };
  }
  const errorId = newId(IdPrefix.Error);
  return {
    status: 500,
    body: {
      code: ErrorCode.Internal,
      message: `Internal error; quote error_id ${errorId} when reporting it`,
      error_id: errorId,
    },
    fault: err,
  };
}
