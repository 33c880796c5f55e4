import { randomUUID } from 'node:crypto';
import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { errorEnvelope, envelopeMeta } from '../envelope';
import { ErrorCode } from '../errors';
import { REQUEST_ID_HEADER } from '../logging/pino-options';

/** An error Node's HTTP server reports on a connection before any request exists (its 'clientError'). */
export interface ClientConnectionError extends Error {
  code?: string;
  /**
   * The bytes being parsed when it failed (a Buffer from Node; Fastify's types describe its JSON form):
   * they hold the request line when it came in the same packet.
   */
  rawPacket?: unknown;
}

const REQUEST_LINE = /^([A-Z]{1,16}) (\/[\x21-\x7e]{0,2047}) HTTP\/1\.[01]\r?\n/;

/** Method and path of the refused request, when its request line is in `rawPacket` (else neither is known). */
function requestLineOf(raw: unknown): { method: string; url: string } {
  const match = Buffer.isBuffer(raw) ? REQUEST_LINE.exec(raw.subarray(0, 2100).toString('latin1')) : null;
  return match ? { method: match[1], url: match[2] } : { method: 'UNKNOWN', url: '/' };
}

function statusOf(err: ClientConnectionError): { status: number; code: string; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: ErrorCode.HeadersTooLarge,
        message: `The request headers are too large (at most ${maxHeaderSize} bytes in all)`,
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: ErrorCode.RequestTimeout, message: 'The request took too long to arrive' };
    default:
      return { status: 400, code: ErrorCode.ValidationFailed, message: 'The request is not valid HTTP/1.1' };
  }
}

/**
 * The raw HTTP response for a request Node refused while parsing it (headers too large, a timeout,
 * bytes that are not HTTP): the same error envelope as every other answer, instead of Fastify's own
 * body. Written straight to the socket: there is no request, no reply and no route yet.
 */
export function clientErrorResponse(err: ClientConnectionError, buildId: string, now: Date = new Date()): string {
  const { status, code, message } = statusOf(err);
  const { method, url } = requestLineOf(err.rawPacket);
  const body = JSON.stringify(errorEnvelope({ code, message }, envelopeMeta(buildId, method, url, now)));
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    `content-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `${REQUEST_ID_HEADER}: ${randomUUID()}\r\n` +
    `connection: close\r\n\r\n${body}`
  );
}

/**
 * Fastify's `clientErrorHandler`: answers with {@link clientErrorResponse} and closes the
 * connection, as Node and Fastify do (a reset or a closed socket gets nothing).
 */
export function envelopeClientErrorHandler(buildId: string): (err: ClientConnectionError, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable) socket.write(clientErrorResponse(err, buildId));
    socket.destroy(err);
  };
}
