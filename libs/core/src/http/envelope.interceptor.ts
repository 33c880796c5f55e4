import { CallHandler, ExecutionContext, Injectable, NestInterceptor, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { map, Observable } from 'rxjs';
import { envelopeMeta, successEnvelope } from '../envelope';

const RAW_RESPONSE = 'ipm:raw-response';
/** Marks a handler whose return value is sent as is (e.g. a JSON Schema document). */
export const RawResponse = (): MethodDecorator => SetMetadata(RAW_RESPONSE, true);

/** Wraps every handler's return value in the success envelope. */
@Injectable()
export class EnvelopeInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly buildId: string,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http' || this.reflector.get<boolean>(RAW_RESPONSE, context.getHandler())) {
      return next.handle();
    }
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    return next
      .handle()
      .pipe(map((data: unknown) => successEnvelope(data ?? null, envelopeMeta(this.buildId, req.method, req.url))));
  }
}
