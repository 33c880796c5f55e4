import { BullModule } from '@nestjs/bullmq';
import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type IORedis from 'ioredis';
import { AppConfig } from '@ipm/core';
import { EngineMetrics } from './engine-metrics';
import { JobProducer } from './job-producer';
import { ALL_QUEUES } from './queue-names';
import { createRedis, redisOptions } from './redis';

/** A plain ioredis client (health checks, small reads): not the one BullMQ blocks on. */
export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

/**
 * The BullMQ connection (REDIS_URL, key prefix QUEUE_PREFIX) and every queue, for both apps:
 * the api produces (through JobProducer), the worker also consumes (QueuesWorkerModule).
 */
@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        connection: redisOptions(config.REDIS_URL),
        prefix: config.QUEUE_PREFIX,
      }),
    }),
    BullModule.registerQueue(...ALL_QUEUES.map((name) => ({ name }))),
  ],
  providers: [
    {
      provide: REDIS_CLIENT,
      inject: [AppConfig],
      useFactory: (config: AppConfig): IORedis => createRedis(config.REDIS_URL, 'ipm-client'),
    },
    JobProducer,
    EngineMetrics,
  ],
  exports: [BullModule, REDIS_CLIENT, JobProducer, EngineMetrics],
})
export class QueuesModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: IORedis) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
