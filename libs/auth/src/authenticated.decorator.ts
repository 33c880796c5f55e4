import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiSecurity } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { AppError, ApiErrors } from '@ipm/core';
import type { Permission } from './permissions';
import type { Caller } from './principal';
import type { RateLimitClass } from './rate-limit/rate-limiter';

export const AUTH_METADATA = 'ipm:auth';
export const JWT_SCHEME = 'jwt';
export const API_KEY_SCHEME = 'api_key';
export const ORG_HEADER = 'x-orgcode';

export interface AuthOptions {
  /** The permission the route needs; none = any authenticated caller of the tenant. */
  permission?: Permission;
  /** Tenant routes need x-orgcode and membership of that org (default true). */
  tenant?: boolean;
  /** Which rate-limit buckets the route draws from: publish has its own, higher pair (default `default`). */
  rateLimit?: RateLimitClass;
}
export type AuthMetadata = { public: true } | ({ public: false } & Required<Pick<AuthOptions, 'tenant'>> & AuthOptions);

/** Route security in one place: what the global guard enforces and what OpenAPI shows. */
export function Authenticated(options: AuthOptions = {}): MethodDecorator & ClassDecorator {
  const tenant = options.tenant ?? true;
  const statuses = [401, ...(options.permission ? [403] : []), ...(tenant ? [404] : []), 429];
  return applyDecorators(
    SetMetadata(AUTH_METADATA, {
      public: false,
      tenant,
      permission: options.permission,
      rateLimit: options.rateLimit ?? 'default',
    } satisfies AuthMetadata),
    ApiBearerAuth(JWT_SCHEME),
    ApiSecurity(API_KEY_SCHEME),
    ...(tenant
      ? [ApiHeader({ name: ORG_HEADER, required: true, description: 'The tenant (org code) the call acts in' })]
      : []),
    ApiErrors(...statuses),
  );
}

/** No credentials needed (stat, health, docs). */
export function Public(): MethodDecorator & ClassDecorator {
  return SetMetadata(AUTH_METADATA, { public: true } satisfies AuthMetadata);
}

/** The authenticated caller in its tenant (tenant routes only). */
export const CurrentCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): Caller => {
  const caller = ctx.switchToHttp().getRequest<FastifyRequest>().caller;
  if (!caller) throw AppError.unauthorized();
  return caller;
});
