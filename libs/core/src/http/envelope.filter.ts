import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { envelopeMeta, errorEnvelope, ErrorEnvelope } from '../envelope';
import { renderError } from './render-error';

/** Writes every error, from any layer, as the envelope; logs server faults with their error_id. */
export function sendError(
  err: unknown,
  req: Pick<FastifyRequest, 'method' | 'url' | 'id'>,
  reply: FastifyReply,
  buildId: string,
  logger: Logger,
): void {
  const { status, body, fault, unavailable } = renderError(err);
  if (fault !== undefined) {
    const stack = fault instanceof Error ? fault.stack : JSON.stringify(fault);
    logger.error(
      `error_id=${body.error_id} request_id=${req.id} ${req.method} ${req.url.split('?', 1)[0]} failed: ${stack}`,
    );
  }
  if (unavailable !== undefined) {
    logger.warn(
      `request_id=${req.id} ${req.method} ${req.url.split('?', 1)[0]}: 503, a dependency is unavailable: ${unavailable}`,
    );
  }
  const envelope: ErrorEnvelope = errorEnvelope(body, envelopeMeta(buildId, req.method, req.url));
  if (reply.sent) return;
  if (status === 503) void reply.header('retry-after', '1');
  void reply.status(status).header('content-type', 'application/json; charset=utf-8').send(envelope);
}

@Catch()
export class EnvelopeExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  constructor(private readonly buildId: string) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendError(
      exception,
      http.getRequest<FastifyRequest>(),
      http.getResponse<FastifyReply>(),
      this.buildId,
      this.logger,
    );
  }
}
