import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode, ORGCODE_PATTERN } from '@ipm/core';
import { ApiKeyAuthenticator } from './api-key.authenticator';
import { firstHeader, presentedCredential } from './credentials';
import { AUTH_METADATA, AuthMetadata, ORG_HEADER } from './authenticated.decorator';
import { JwtVerifier } from './jwt.verifier';
import type { Principal } from './principal';
import { RateLimitClass, RateLimiter } from './rate-limit/rate-limiter';

/**
 * The one guard. Routes are closed unless marked: @Public() opens one, @Authenticated() says
 * what it needs. Order of refusals: 401 credentials, 400 missing x-orgcode, 404 org not the
 * caller's (indistinguishable from an unknown org), 429 rate limited (the caller's or the tenant's
 * bucket), 403 permission, 400 request_context mismatch.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtVerifier,
    private readonly apiKeys: ApiKeyAuthenticator,
    private readonly limiter: RateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const meta = this.reflector.getAllAndOverride<AuthMetadata | undefined>(AUTH_METADATA, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (meta?.public) return true;
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    const principal = await this.authenticate(req);
    req.principal = principal;
    if (!meta) throw AppError.forbidden('This route is not open to callers');

    if (meta.tenant) {
      const orgcode = firstHeader(req.headers, ORG_HEADER)?.trim();
      if (!orgcode) throw AppError.badRequest(`The ${ORG_HEADER} header is required`, ORG_HEADER);
      if (!ORGCODE_PATTERN.test(orgcode))
        throw AppError.badRequest(`The ${ORG_HEADER} header is malformed`, ORG_HEADER);
      if (!principal.orgs.includes(orgcode)) throw AppError.notFound('Organization');
      req.caller = { ...principal, orgcode };
    }
    await this.rateLimit(context, principal, req.caller?.orgcode ?? null, meta.rateLimit ?? 'default');
    if (meta.permission && !principal.permissions.includes(meta.permission)) {
      throw AppError.forbidden(`Permission ${meta.permission} is required`);
    }
    const claimed = (req.body as { request_context?: { orgcode?: unknown } } | undefined)?.request_context?.orgcode;
    if (meta.tenant && claimed !== undefined && claimed !== req.caller?.orgcode) {
      throw AppError.badRequest(
        `request_context.orgcode must equal the ${ORG_HEADER} header`,
        'request_context.orgcode',
      );
    }
    return true;
  }

  /** Takes the request from the caller's and the tenant's buckets; 429 with Retry-After when either is empty. */
  private async rateLimit(
    context: ExecutionContext,
    principal: Principal,
    orgcode: string | null,
    limitClass: RateLimitClass,
  ): Promise<void> {
    const decision = await this.limiter.check({
      kind: principal.kind,
      actorId: principal.actor_id,
      orgcode,
      limitClass,
    });
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    if (decision.limit > 0) {
      reply.header('x-ratelimit-limit', decision.limit);
      reply.header('x-ratelimit-remaining', decision.remaining);
    }
    if (decision.allowed) return;
    const retryAfterSeconds = Math.ceil((decision.retryAfterMs ?? 1000) / 1000);
    reply.header('retry-after', retryAfterSeconds);
    const whose = decision.scope === 'tenant' ? `The organization's` : `This caller's`;
    const message = `${whose} rate limit${limitClass === 'publish' ? ' for publishing' : ''} is exceeded; retry after ${retryAfterSeconds} s`;
    throw new AppError(HttpStatus.TOO_MANY_REQUESTS, ErrorCode.RateLimited, message, [
      {
        message,
        scope: decision.scope,
        limit_class: limitClass,
        retry_after_seconds: retryAfterSeconds,
        retry_after_ms: decision.retryAfterMs,
      },
    ]);
  }

  private async authenticate(req: FastifyRequest): Promise<Principal> {
    const credential = presentedCredential(req.headers);
    switch (credential.kind) {
      case 'jwt':
        return this.jwt.verify(credential.token);
      case 'api_key':
        return this.apiKeys.authenticate(credential.key);
      case 'malformed':
        throw AppError.unauthorized(credential.message);
      case 'none':
        throw AppError.unauthorized('Credentials required: Authorization: Bearer <jwt>, or x-api-key');
    }
  }
}
