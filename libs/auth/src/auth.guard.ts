import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AppError, ORGCODE_PATTERN } from '@ipm/core';
import { ApiKeysService } from './apikeys/api-keys.service';
import { AUTH_METADATA, AuthMetadata, ORG_HEADER } from './authenticated.decorator';
import { JwtVerifier } from './jwt.verifier';
import type { Principal } from './principal';

function header(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The one guard. Routes are closed unless marked: @Public() opens one, @Authenticated() says
 * what it needs. Order of refusals: 401 credentials, 400 missing x-orgcode, 404 org not the
 * caller's (indistinguishable from an unknown org), 403 permission, 400 request_context mismatch.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtVerifier,
    private readonly apiKeys: ApiKeysService,
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
      const orgcode = header(req, ORG_HEADER)?.trim();
      if (!orgcode) throw AppError.badRequest(`The ${ORG_HEADER} header is required`, ORG_HEADER);
      if (!ORGCODE_PATTERN.test(orgcode))
        throw AppError.badRequest(`The ${ORG_HEADER} header is malformed`, ORG_HEADER);
      if (!principal.orgs.includes(orgcode)) throw AppError.notFound('Organization');
      req.caller = { ...principal, orgcode };
    }
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

  private async authenticate(req: FastifyRequest): Promise<Principal> {
    const authorization = header(req, 'authorization');
    if (authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!match) throw AppError.unauthorized('Authorization must be "Bearer <jwt>"');
      return this.jwt.verify(match[1]);
    }
    const apiKey = header(req, 'x-api-key');
    if (apiKey) return this.apiKeys.authenticate(apiKey.trim());
    throw AppError.unauthorized('Credentials required: Authorization: Bearer <jwt>, or x-api-key');
  }
}
