import { Inject, Injectable } from '@nestjs/common';
import {
  HealthCheckAttempt,
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { REDIS_CLIENT } from '@ipm/queues';
import { type RedisClient } from '@ipm/redis';

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

  /**
   * The worker's readiness: it needs both. Throws ServiceUnavailableException (503) with the
   * per-dependency result when one is down.
   */
  ready(): Promise<HealthCheckResult> {
    return this.health.check([this.postgresCheck, () => this.redisCheck()]);
  }

  /**
   * The api's readiness: PostgreSQL must answer (503 otherwise); Redis is reported but does not make
   * the api unready, because the api keeps serving without it (publishes land in the outbox, rate
   * limits fail open, committed rows are enqueued by the sweeper once Redis is back). An orchestrator
   * must not take every api replica out of rotation during a Redis outage. A Redis that does not
   * answer shows as `redis: { status: 'down', required: false, message }`.
   */
  async apiReady(): Promise<HealthCheckResult> {
    const { redis } = await this.redisCheck();
    if (redis.status === 'up') return this.health.check([this.postgresCheck, () => ({ redis })]);
    const result = await this.health.check([this.postgresCheck]);
    const down = { ...redis, required: false };
    return { ...result, info: { ...result.info, redis: down }, details: { ...result.details, redis: down } };
  }

  private readonly postgresCheck = (): HealthCheckAttempt<'postgres'> =>
    this.db.pingCheck('postgres').withTimeout(CHECK_TIMEOUT_MS);

  private redisCheck(): HealthCheckAttempt<'redis'> {
    return this.indicators
      .check('redis')
      .attempt(async () => {
        const pong: string = await this.redis.ping();
        if (pong !== 'PONG') throw new Error(`unexpected PING reply ${pong}`);
      })
      .withTimeout(CHECK_TIMEOUT_MS);
  }
}
