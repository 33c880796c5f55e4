import { Inject, Injectable } from '@nestjs/common';
import {
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { REDIS_CLIENT, type RedisClient } from '@ipm/queues';

const CHECK_TIMEOUT_MS = 1500;

/** Liveness (the process answers) and readiness (PostgreSQL and Redis answer), for both apps. */
@Injectable()
export class HealthService {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
  ) {}

  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** Throws ServiceUnavailableException (503) with the per-dependency result when one is down. */
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.db.pingCheck('postgres').withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('redis')
          .attempt(async () => {
            const pong: string = await this.redis.ping();
            if (pong !== 'PONG') throw new Error(`unexpected PING reply ${pong}`);
          })
          .withTimeout(CHECK_TIMEOUT_MS),
    ]);
  }
}
