import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { acrossTenants } from '@ipm/persistence';
import { AppConfig } from '@ipm/core';
import { JobHandler, JobProducer } from '@ipm/queues';
import { HOUR_MS, HOUR_ROWS_KEPT_MS, HOURS_RETENTION_LOCK, SETTLE_MS } from '../deliveries/stats-hours';

/** Rows deleted per statement: small, so each delete holds its locks for milliseconds. */
export const RETENTION_BATCH = 1000;
/** Breathing room between batches, so that retention never competes with delivery for long. */
const BATCH_PAUSE_MS = 20;

/**
 * Deletes finished deliveries (with their attempts, by cascade) and finished replays older than
 * DELIVERY_RETENTION_DAYS, in small batches, and the stats rows (webhook_delivery_hours) that counted
 * such deliveries or are older than every stats window; runs hourly on the maintenance queue.
 */
@Injectable()
export class DeliveryRetention implements OnApplicationBootstrap {
  static readonly SCHEDULE = { pattern: '17 * * * *', tz: 'UTC' } as const;
  private readonly logger = new Logger(DeliveryRetention.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly jobs: JobProducer,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.declareSchedule();
  }

  /** Idempotent: every worker declares it at boot, and the sweeper again after a Redis loss. */
  async declareSchedule(): Promise<void> {
    await this.jobs.schedule(
      'maintenance.delivery_retention',
      DeliveryRetention.SCHEDULE,
      'maintenance.delivery_retention',
      {},
    );
  }

  @JobHandler('maintenance.delivery_retention')
  async purge(): Promise<{ deliveries: number; replays: number; hours: number }> {
    const days = this.config.DELIVERY_RETENTION_DAYS;
    const deliveries = await this.inBatches(
      `DELETE FROM deliveries WHERE delivery_id IN (
         SELECT delivery_id FROM deliveries WHERE finished_at < now() - make_interval(days => $1) LIMIT $2)`,
      days,
    );
    const hours = await this.forgetHours(days);
    const replays = await this.inBatches(
      `DELETE FROM webhook_replays WHERE replay_id IN (
         SELECT replay_id FROM webhook_replays WHERE finished_at < now() - make_interval(days => $1) LIMIT $2)`,
      days,
    );
    if (deliveries || replays) {
      this.logger.log(`retention: deleted ${deliveries} deliveries and ${replays} replays older than ${days} days`);
    }
    return { deliveries, replays, hours };
  }

  /**
   * Deletes the stats rows that may count deliveries just deleted (a row of hour H counts deliveries
   * finished before H + 1 h + SETTLE_MS), and those older than every stats window. After the
   * deliveries, under the hours retention lock: a stats read that filled rows from deliveries
   * deleted since has committed by then (see DeliveryRepository.windowStats).
   */
  forgetHours(days: number): Promise<number> {
    return this.dataSource.transaction(async (em) => {
      await em.query(`SELECT pg_advisory_xact_lock(hashtext('${HOURS_RETENTION_LOCK}'))`);
      const [, affected] = await acrossTenants('retention drops rolled-up hours of every tenant by age', () =>
        em.query<[unknown[], number]>(
          `DELETE FROM webhook_delivery_hours
         WHERE hour < greatest(now() - make_interval(days => $1) + make_interval(secs => $2),
                               now() - make_interval(secs => $3))`,
          [days, (HOUR_MS + SETTLE_MS) / 1000, HOUR_ROWS_KEPT_MS / 1000],
        ),
      );
      return affected;
    });
  }

  private async inBatches(sql: string, days: number): Promise<number> {
    let total = 0;
    for (;;) {
      const [, affected] = await acrossTenants('retention deletes finished deliveries of every tenant by age', () =>
        this.dataSource.query<[unknown[], number]>(sql, [days, RETENTION_BATCH]),
      );
      total += affected;
      if (affected < RETENTION_BATCH) return total;
      await sleep(BATCH_PAUSE_MS);
    }
  }
}
