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

/** Verified tokens kept (by their exact text) so that a client's next requests skip the signature check. */
export const VERIFIED_TOKEN_CACHE_SIZE = 5000;
/** How long a verified token is trusted without checking again (capped by its `exp`). */
export const VERIFIED_TOKEN_TTL_MS = 60_000;

/**
 * Verifies bearer JWTs (HS256 secret, RS256 PEM or JWKS, from config) into a Principal. A token that
 * verified is remembered by its exact text for at most a minute and never past its `exp`: the same
 * bytes verify the same way, so a client's repeated requests skip the signature check (an HMAC or
 * RSA verification through WebCrypto, most of an authenticated request's fixed cost). Rejections
 * are not remembered; the map is bounded, its oldest entries go first.
 */
@Injectable()
export class JwtVerifier {
  private key?: Promise<VerifyKey>;
  private readonly verified = new Map<string, { principal: Principal; until: number }>();

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
    const cached = this.verified.get(token);
    if (cached && Date.now() < cached.until) return cached.principal;
    if (cached) this.verified.delete(token);
    const { principal, expiresAt } = await this.verifyToken(token);
    if (this.verified.size >= VERIFIED_TOKEN_CACHE_SIZE) {
      const oldest = this.verified.keys().next();
      if (!oldest.done) this.verified.delete(oldest.value);
    }
    this.verified.set(token, { principal, until: Math.min(expiresAt, Date.now() + VERIFIED_TOKEN_TTL_MS) });
    return principal;
  }

  /** The signature and claims checked; the principal (frozen: it is shared) and when the token expires. */
  private async verifyToken(token: string): Promise<{ principal: Principal; expiresAt: number }> {
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
    // jose checks the types of exp, nbf, iat, iss and aud, not of sub: a number or an object there
    // would become the actor id recorded in audit rows.
    if (typeof payload.sub !== 'string' || !payload.sub) throw AppError.unauthorized('Token rejected: sub claim');
    const orgs = stringArray(payload.orgs);
    const permissions = stringArray(payload.permissions ?? []);
    if (!orgs || !permissions) throw AppError.unauthorized('Token lacks orgs or permissions');
    const appId = payload.app_id;
    if (appId !== undefined && appId !== null && typeof appId !== 'string')
      throw AppError.unauthorized('Invalid app_id claim');
    const principal: Principal = Object.freeze({
      kind: 'user',
      actor_id: payload.sub,
      orgs: Object.freeze(orgs),
      permissions: Object.freeze(permissions.filter(isPermission)),
      app_id: appId ?? null,
    });
    // requiredClaims includes exp, so jose has checked that it is there and in the future.
    return { principal, expiresAt: (payload.exp ?? 0) * 1000 };
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
