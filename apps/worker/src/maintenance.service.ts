import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { IdempotencyService } from '@ipm/core';
import { JobHandler, JobProducer } from '@ipm/queues';

/** Housekeeping jobs on the maintenance queue, and their schedules. */
@Injectable()
export class MaintenanceService implements OnApplicationBootstrap {
  /** At minute 0 of every hour, UTC. */
  static readonly PURGE_SCHEDULE = { pattern: '0 * * * *', tz: 'UTC' } as const;
  private readonly logger = new Logger(MaintenanceService.name);

  constructor(
    private readonly idempotency: IdempotencyService,
    private readonly jobs: JobProducer,
  ) {}

  /** Upserting is idempotent, so every worker replica may (re)declare the schedule at boot. */
  async onApplicationBootstrap(): Promise<void> {
    await this.jobs.schedule(
      'maintenance.idempotency_purge',
      MaintenanceService.PURGE_SCHEDULE,
      'maintenance.idempotency_purge',
      {},
    );
  }

  @JobHandler('maintenance.idempotency_purge')
  async purgeIdempotencyKeys(): Promise<{ purged: number }> {
    const purged = await this.idempotency.purgeExpired();
    this.logger.log(`purged ${purged} expired idempotency key(s)`);
    return { purged };
  }
}
