import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '@ipm/audit/audit.module';
import { EventsModule } from '@ipm/events/events.module';
import { ApiKeyEntity } from './apikeys/api-key.entity';
import { ApiKeysController } from './apikeys/api-keys.controller';
import { ApiKeysService } from './apikeys/api-keys.service';
import { AuthGuard } from './auth.guard';
import { JwtVerifier } from './jwt.verifier';
import { RateLimiter } from './rate-limit/rate-limiter';

/** Credentials (JWT, API keys); exported for the CLI and for features that mint keys. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([ApiKeyEntity]), AuditModule, EventsModule],
  providers: [JwtVerifier, ApiKeysService],
  exports: [JwtVerifier, ApiKeysService],
})
export class AuthModule {}

/** The api side: the global guard on every route, and the /apikey routes. */
@Module({
  imports: [AuthModule],
  controllers: [ApiKeysController],
  providers: [RateLimiter, { provide: APP_GUARD, useClass: AuthGuard }],
})
export class AuthApiModule {}
