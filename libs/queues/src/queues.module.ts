import { BullModule } from '@nestjs/bullmq';
import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '@ipm/core';
import { JobProducer } from './job-producer';
import { StalledJobSources } from './stalled-jobs';
import { ALL_QUEUES } from './queue-names';
import { bullPrefix, clusterNodes, connectRedis, RedisClient, redisOptions } from '@ipm/redis';

/** A plain ioredis client (health checks, small reads): not the one BullMQ blocks on. */
export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

/**
 * The plain client. On a Redis Cluster it is also BullMQ's shared connection (BullMQ takes a cluster only
 * as a client instance; its workers duplicate it for their blocking connections).
 */
@Module({
  providers: [
    {
      provide: REDIS_CLIENT,
      inject: [AppConfig],
      useFactory: (config: AppConfig): RedisClient => connectRedis(config, 'ipm-client'),
    },
  ],
  exports: [REDIS_CLIENT],
})
export class RedisClientModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: RedisClient) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/**
 * The BullMQ connection (REDIS_URL, or the cluster of REDIS_CLUSTER_NODES; key prefix QUEUE_PREFIX, a hash
 * tag on a cluster) and every queue, for both apps: the api produces (through JobProducer), the worker also
 * consumes (QueuesWorkerModule).
 */
@Global()
@Module({
  imports: [
    RedisClientModule,
    BullModule.forRootAsync({
      imports: [RedisClientModule],
      inject: [AppConfig, REDIS_CLIENT],
      useFactory: (config: AppConfig, redis: RedisClient) => ({
        connection: clusterNodes(config.REDIS_CLUSTER_NODES).length > 0 ? redis : redisOptions(config.REDIS_URL),
        prefix: bullPrefix(config),
      }),
    }),
    BullModule.registerQueue(...ALL_QUEUES.map((name) => ({ name }))),
  ],
  providers: [JobProducer, StalledJobSources],
  exports: [BullModule, RedisClientModule, JobProducer, StalledJobSources],
})
export class QueuesModule {}
