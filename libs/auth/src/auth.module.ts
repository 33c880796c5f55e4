import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeyAuthenticator } from './api-key.authenticator';
import { ApiKeyEntity } from './api-key.entity';
import { ApiKeyRepository } from './api-key.repository';
import { AuthGuard } from './auth.guard';
import { JwtVerifier } from './jwt.verifier';
import { RateLimiter } from './rate-limit/rate-limiter';

/** Who is calling: JWT verification and API-key authentication (exported for the CLI and the dashboard). */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([ApiKeyEntity])],
  providers: [JwtVerifier, ApiKeyRepository, ApiKeyAuthenticator],
  exports: [JwtVerifier, ApiKeyRepository, ApiKeyAuthenticator],
})
export class AuthModule {}

/** The api side: the global guard on every route, with its rate limits. */
@Module({
  imports: [AuthModule],
  providers: [RateLimiter, { provide: APP_GUARD, useClass: AuthGuard }],
})
export class AuthApiModule {}
