import {
  applyDecorators,
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  UseInterceptors,
} from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { catchError, from, mergeMap, Observable, of, throwError } from 'rxjs';
import { callName } from '../envelope';
import { AppError } from '../errors';
import { IDEMPOTENCY_KEY_PATTERN, IdempotencyService, requestFingerprint } from './idempotency.service';

export const IDEMPOTENCY_HEADER = 'idempotency-key';

/**
 * The stored key: the client's own, or, for a principal bound to an application, one of that
 * application's (a digest, within the column's 255 characters), so that two applications of a
 * tenant never meet on a key: neither replays nor blocks (422) the other's requests.
 */
export function storedIdempotencyKey(key: string, appId: string | null | undefined): string {
  if (!appId) return key;
  return `app:${createHash('sha256').update(`${appId}\n${key}`).digest('hex')}`;
}

/**
 * Same key + same body within the TTL: the first response again (header
 * `idempotent-replayed: true`); same key + another body: 422; a failed first request
 * releases the key so that the client can retry. A request that could neither complete nor
 * release its key (the database went away) leaves it in progress: after IDEMPOTENCY_LEASE_SECONDS
 * a retry takes it over and runs again (see IdempotencyService).
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(private readonly store: IdempotencyService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<
      FastifyRequest & { caller?: { orgcode: string; actor_id: string; app_id?: string | null } }
    >();
    const raw = req.headers[IDEMPOTENCY_HEADER];
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (key === undefined) return next.handle();
    if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
      return throwError(() =>
        AppError.badRequest('Idempotency-Key must be 1-255 printable ASCII characters', 'Idempotency-Key'),
      );
    }
    const orgcode = req.caller?.orgcode ?? '-';
    const stored = storedIdempotencyKey(key, req.caller?.app_id);
    const call = callName(req.method, req.url);
    const fingerprint = requestFingerprint(call, req.body, req.caller?.actor_id);
    const reply = http.getResponse<FastifyReply>();

    return from(this.store.claim(orgcode, stored, call, fingerprint)).pipe(
      mergeMap((claim) => {
        if (claim.kind === 'replay') {
          void reply.header('idempotent-replayed', 'true');
          return of(claim.body);
        }
        const { claimedAt } = claim;
        return next.handle().pipe(
          mergeMap(async (data: unknown) => {
            await this.store.complete(orgcode, stored, claimedAt, reply.statusCode, data ?? null);
            return data;
          }),
          catchError((err: unknown) =>
            from(this.store.release(orgcode, stored, claimedAt).catch(() => undefined)).pipe(
              mergeMap(() => throwError(() => err)),
            ),
          ),
        );
      }),
    );
  }
}

/**
 * Marks a creating POST: an Idempotency-Key header then makes retries safe. Method-scoped, so
 * it runs inside the global envelope interceptor and stores the handler's data, not the envelope.
 */
export function Idempotent(): MethodDecorator {
  return applyDecorators(
    UseInterceptors(IdempotencyInterceptor),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Same key and body within 24 h: the first response again; another body: 422; while the first request ' +
        'runs: 409 idempotency_key_in_progress; a key left in progress by a failure for longer than ' +
        'IDEMPOTENCY_LEASE_SECONDS (60 s) is taken over and the request runs again',
    }),
  );
}
