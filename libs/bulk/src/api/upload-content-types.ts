import type { FastifyInstance } from 'fastify';
import { AppError, ErrorCode } from '@ipm/core';

/** Content types an upload may be sent as (one is required: Fastify cannot parse by an empty type). */
export const UPLOAD_CONTENT_TYPES = [
  'application/octet-stream',
  'application/x-ndjson',
  'application/ndjson',
  'text/csv',
];
export const UPLOAD_ROUTE = '/ipm/bulk/upload/:token';

/**
 * Lets the upload route take its body as a raw stream: the parser does not read it (the route
 * streams `req.raw` into storage, with its own size cap instead of BODY_LIMIT_BYTES). Scoped to
 * that route: any other route sent these types still answers 415, as before.
 */
export function registerUploadContentTypes(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(
    UPLOAD_CONTENT_TYPES,
    (req: { routeOptions: { url?: string } }, _payload: unknown, done: (err: Error | null, body?: unknown) => void) => {
      if (req.routeOptions.url === UPLOAD_ROUTE) done(null);
      else done(new AppError(415, ErrorCode.UnsupportedMediaType, 'Unsupported Media Type: the API speaks JSON'));
    },
  );
}
