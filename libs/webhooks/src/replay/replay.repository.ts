import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { acrossTenants, TenantRepository } from '@ipm/persistence';
import { WebhookReplayEntity } from '../entities/webhook-replay.entity';

/**
 * Every query on `webhook_replays`: scoped like every TenantRepository (a replay row is its own
 * scope: it names its tenant), but for the `replay.run` job, which carries only the replay's id.
 */
@Injectable()
export class ReplayRepository extends TenantRepository<WebhookReplayEntity> {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    super(WebhookReplayEntity, dataSource.manager);
  }

  /** The replay a job names, whichever tenant's; with `em`, locked FOR UPDATE until its transaction ends. */
  byJob(replayId: string, em?: EntityManager): Promise<WebhookReplayEntity | null> {
    return acrossTenants('the replay.run job carries only the replay id', () =>
      (em ?? this.dataSource.manager).findOne(WebhookReplayEntity, {
        where: { replay_id: replayId },
        ...(em ? { lock: { mode: 'pessimistic_write' as const } } : {}),
      }),
    );
  }

  /** Marks a queued replay running (one of its tenant's, named by the row read). */
  async markRunning(replay: WebhookReplayEntity): Promise<void> {
    await this.dataSource.query(
      `UPDATE webhook_replays SET status = 'running', updated_at = now()
        WHERE replay_id = $1 AND orgcode = $2 AND status = 'queued'`,
      [replay.replay_id, replay.orgcode],
    );
  }
}
