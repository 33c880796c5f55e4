import { Injectable } from '@nestjs/common';
import { decodeJwt } from 'jose';
import { AppError } from '@ipm/core';
import { ApiKeyAuthenticator, JwtVerifier, Permission, type Principal } from '@ipm/auth';
import { Credential, DASHBOARD_PATH } from './dashboard-http';

/** The permission the dashboard needs. It is platform-wide: the queues hold every tenant's jobs. */
export const DASHBOARD_PERMISSION = Permission.OperateQueues;

export type AccessDecision =
  | { allowed: true; principal: Principal }
  | {
      allowed: false;
      error: AppError;
      /** The session cookie held a token that no longer verifies: delete it. */
      clearCookie: boolean;
    };

/**
 * Who may use the queue dashboard: a JWT (Authorization header or the login cookie), verified by the
 * api's JwtVerifier, whose permissions include operate_queues. An API key is refused even when it holds
 * that permission: a key is a tenant's integration credential, the dashboard an operator's tool over
 * every tenant.
 */
@Injectable()
export class DashboardAccess {
  constructor(
    private readonly jwt: JwtVerifier,
    private readonly apiKeys: ApiKeyAuthenticator,
  ) {}

  async decide(credential: Credential): Promise<AccessDecision> {
    switch (credential.kind) {
      case 'none':
        return this.refuse(
          AppError.unauthorized(
            `Credentials required: Authorization: Bearer <jwt> with ${DASHBOARD_PERMISSION}, or log in at ${DASHBOARD_PATH}`,
          ),
        );
      case 'malformed':
        return this.refuse(AppError.unauthorized(credential.message));
      case 'api_key':
        // An invalid key is a 401 like anywhere else; a valid one is refused for what it is.
        try {
          await this.apiKeys.authenticate(credential.key);
        } catch (err) {
          return this.refuse(err instanceof AppError ? err : AppError.unauthorized('Invalid API key'));
        }
        return this.refuse(
          AppError.forbidden(
            `The queue dashboard takes a JWT only: API keys are refused, even one holding ${DASHBOARD_PERMISSION}`,
          ),
        );
      case 'jwt': {
        const result = await this.verifyJwt(credential.token);
        if (!result.allowed && credential.source === 'cookie' && result.error.status === 401) {
          return { ...result, clearCookie: true };
        }
        return result;
      }
    }
  }

  /** The token verified and checked for the permission. */
  async verifyJwt(token: string): Promise<AccessDecision> {
    let principal: Principal;
    try {
      principal = await this.jwt.verify(token);
    } catch (err) {
      return this.refuse(err instanceof AppError ? err : AppError.unauthorized('Invalid token'));
    }
    if (principal.kind !== 'user') {
      return this.refuse(AppError.forbidden('The queue dashboard takes a JWT only'));
    }
    if (!principal.permissions.includes(DASHBOARD_PERMISSION)) {
      return this.refuse(AppError.forbidden(`Permission ${DASHBOARD_PERMISSION} is required for the queue dashboard`));
    }
    return { allowed: true, principal };
  }

  /** The `exp` of a token that verified (seconds since the epoch). */
  expiry(token: string): number | undefined {
    try {
      return decodeJwt(token).exp;
    } catch {
      return undefined;
    }
  }

  private refuse(error: AppError): AccessDecision {
    return { allowed: false, error, clearCookie: false };
  }
}
