import { Injectable } from '@nestjs/common';
import { webcrypto } from 'node:crypto';
import { createRemoteJWKSet, errors, importSPKI, JWTPayload, jwtVerify, JWTVerifyGetKey, SignJWT } from 'jose';
import { AppConfig, AppError } from '@ipm/core';
import { isPermission, Permission } from './permissions';
import type { Principal } from './principal';

type VerifyKey = webcrypto.CryptoKey | JWTVerifyGetKey;

export interface DevTokenOptions {
  sub: string;
  orgs: string[];
  permissions: Permission[];
  app_id?: string;
  expiresIn?: string;
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
}

/** Verifies bearer JWTs (HS256 secret, RS256 PEM or JWKS, from config) into a Principal. */
@Injectable()
export class JwtVerifier {
  private key?: Promise<VerifyKey>;

  constructor(private readonly config: AppConfig) {}

  private verifyKey(): Promise<VerifyKey> {
    this.key ??= (async (): Promise<VerifyKey> => {
      const { JWT_ALGORITHM, JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL } = this.config;
      if (JWT_ALGORITHM === 'HS256') {
        // Imported once: handing jose the raw bytes would re-import the key on every request.
        return webcrypto.subtle.importKey(
          'raw',
          new TextEncoder().encode(JWT_SECRET),
          { name: 'HMAC', hash: 'SHA-256' },
          false,
          ['verify'],
        );
      }
      if (JWT_PUBLIC_KEY) return importSPKI(JWT_PUBLIC_KEY, 'RS256');
      return createRemoteJWKSet(new URL(JWT_JWKS_URL as string), { cooldownDuration: 30_000 });
    })();
    // A failed load is not cached: the next request tries again.
    void this.key.catch(() => (this.key = undefined));
    return this.key;
  }

  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      const key = await this.verifyKey();
      const options = {
        algorithms: [this.config.JWT_ALGORITHM],
        audience: this.config.JWT_AUDIENCE,
        issuer: this.config.JWT_ISSUER,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: 5,
      };
      ({ payload } =
        typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw AppError.unauthorized('Token expired');
      if (err instanceof errors.JWTClaimValidationFailed)
        throw AppError.unauthorized(`Token rejected: ${err.claim} claim`);
      throw AppError.unauthorized('Invalid token');
    }
    const orgs = stringArray(payload.orgs);
    const permissions = stringArray(payload.permissions ?? []);
    if (!payload.sub || !orgs || !permissions) throw AppError.unauthorized('Token lacks sub, orgs or permissions');
    const appId = payload.app_id;
    if (appId !== undefined && appId !== null && typeof appId !== 'string')
      throw AppError.unauthorized('Invalid app_id claim');
    return {
      kind: 'user',
      actor_id: payload.sub,
      orgs,
      permissions: permissions.filter(isPermission),
      app_id: appId ?? null,
    };
  }

  /** A development token signed with the configured HS256 secret (the CLI's `token`). */
  async sign(options: DevTokenOptions): Promise<string> {
    if (this.config.JWT_ALGORITHM !== 'HS256') {
      throw new Error('Tokens can only be minted here with JWT_ALGORITHM=HS256 (RS256 keys live with your IdP)');
    }
    const claims: JWTPayload = { orgs: options.orgs, permissions: options.permissions };
    if (options.app_id) claims.app_id = options.app_id;
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(options.sub)
      .setAudience(this.config.JWT_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '12h');
    if (this.config.JWT_ISSUER) jwt = jwt.setIssuer(this.config.JWT_ISSUER);
    return jwt.sign(new TextEncoder().encode(this.config.JWT_SECRET));
  }
}
