import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';

@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  providers: [HealthService],
  exports: [HealthService],
})
export class HealthModule {}

/** GET /health/live and /health/ready on the api. */
@Module({ imports: [HealthModule], controllers: [HealthController] })
export class HealthApiModule {}
