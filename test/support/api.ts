import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SignJWT } from 'jose';
import request from 'supertest';
import { AppConfig } from '@ipm/core';
import { createApiApp } from '../../apps/api/src/bootstrap';
import type { Permission } from '@ipm/auth';

export interface TestApi {
  app: NestFastifyApplication;
  config: AppConfig;
  http: () => ReturnType<typeof request>;
  close: () => Promise<void>;
}

/** The real api (Fastify, PostgreSQL, Redis) on an ephemeral port, driven over HTTP by supertest. */
export async function startApi(): Promise<TestApi> {
  const app = await createApiApp();
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  await app.listen(0, '127.0.0.1');
  const config = app.get(AppConfig);
  const server = app.getHttpServer();
  return { app, config, http: () => request(server), close: () => app.close() };
}

export interface TokenClaims {
  sub?: string;
  orgs?: string[];
  permissions?: Permission[];
  app_id?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  audience?: string;
  secret?: string;
}

/** A JWT as an identity provider would mint it, signed with the test run's HS256 secret. */
export async function token(config: AppConfig, claims: TokenClaims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const body: Record<string, unknown> = {
    orgs: claims.orgs ?? ['acme'],
    permissions: claims.permissions ?? [],
  };
  if (claims.app_id) body.app_id = claims.app_id;
  return new SignJWT(body)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub ?? 'user_1')
    .setAudience(claims.audience ?? config.JWT_AUDIENCE)
    .setIssuedAt(now - 60)
    .setExpirationTime(now + (claims.expiresIn ?? 3600))
    .sign(new TextEncoder().encode(claims.secret ?? config.JWT_SECRET));
}

export const bearer = (jwt: string): Record<string, string> => ({ authorization: `Bearer ${jwt}` });

/** An org code unique to one test, so that tests never see each other's rows. */
export function uniqueOrg(label = 'org'): string {
  return `${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
