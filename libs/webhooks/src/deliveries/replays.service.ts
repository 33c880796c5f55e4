import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppError, IdPrefix, newId } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { enqueueAfterCommit, JobProducer } from '@ipm/queues';
import { WebhookReplayEntity } from '../entities/webhook-replay.entity';
import { ReplayRepository } from '../replay/replay.repository';
import { WebhookRepository } from '../webhook.repository';
import { DeliveryRepository, ReplayCounts } from './delivery.repository';
import { ReplayGetRequestDto, ReplayDto, ReplayResultDto, WebhookReplayRequestDto } from './dto/delivery.dto';

/** `/webhook/replay`: records the request and hands it to the `replay` queue (ReplayRunner walks the window). */
@Injectable()
export class ReplaysService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly webhooks: WebhookRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly replays: ReplayRepository,
    private readonly audit: AuditService,
    private readonly jobs: JobProducer,
  ) {}

  async replay(caller: Caller, request: WebhookReplayRequestDto): Promise<ReplayResultDto> {
    const after = request.after === undefined ? null : new Date(request.after);
    const now = new Date();
    // Without an end, the window stops at the request: later events are the fan-out's, not the replay's.
    const before = request.before === undefined ? now : new Date(request.before);
    if (after && after.getTime() >= before.getTime()) {
      throw AppError.validation(
        [{ field: request.before === undefined ? 'after' : 'before', message: 'after must be earlier than before' }],
        'after must be earlier than before',
      );
    }
    const replay = await this.dataSource.transaction(async (em) => {
      const webhook = await this.webhooks.findVisible(caller, request.webhook_id, em, true);
      if (!webhook) throw AppError.notFound('Webhook');
      if (webhook.status !== 'active') {
        throw AppError.unprocessable(`The webhook is ${webhook.status}: only an active webhook can be replayed to`, [
          { field: 'webhook_id', message: `webhook is ${webhook.status}`, status: webhook.status },
        ]);
      }
      const row: WebhookReplayEntity = {
        replay_id: newId(IdPrefix.Replay, now.getTime()),
        orgcode: caller.orgcode,
        webhook_id: webhook.webhook_id,
        window_after: after,
        window_before: before,
        only_failed: request.only_failed ?? false,
        status: 'queued',
        cursor: null,
        events_matched: 0,
        error: null,
        created_by: caller.actor_id,
        created_at: now,
        updated_at: now,
        finished_at: null,
      };
      await this.replays.insert(caller, row, em);
      await this.audit.record(em, caller, request, {
        action: 'webhook.replay',
        target_type: 'webhook',
        target_id: webhook.webhook_id,
        metadata: {
          replay_id: row.replay_id,
          after: after?.toISOString() ?? null,
          before: before.toISOString(),
          only_failed: row.only_failed,
        },
      });
      return row;
    });
    // After commit, waiting for Redis a bounded time: a lost enqueue leaves a queued replay in PostgreSQL
    // (ix_webhook_replays_open) that the sweeper re-enqueues (job id = replay id: never queued twice).
    await enqueueAfterCommit(`replay.run ${replay.replay_id}`, () =>
      this.jobs.add('replay.run', { replay_id: replay.replay_id }, { jobId: replay.replay_id }),
    );
    return { replay: toReplayDto(replay, { total: 0, delivered: 0, failed: 0 }) };
  }

  async get(caller: Caller, request: ReplayGetRequestDto): Promise<ReplayResultDto> {
    const replay = await this.deliveries.findReplay(caller, request.replay_id);
    if (!replay) throw AppError.notFound('Replay');
    return { replay: toReplayDto(replay, await this.deliveries.replayCounts(caller, replay.replay_id)) };
  }
}

export function toReplayDto(r: WebhookReplayEntity, counts: ReplayCounts): ReplayDto {
  const pending = Math.max(0, counts.total - counts.delivered - counts.failed);
  return {
    replay_id: r.replay_id,
    webhook_id: r.webhook_id,
    after: r.window_after?.toISOString() ?? null,
    before: r.window_before?.toISOString() ?? null,
    only_failed: r.only_failed,
    status: r.status,
    events_matched: counts.total,
    delivered: counts.delivered,
    failed: counts.failed,
    pending,
    done: r.status === 'completed' && pending === 0,
    error: r.error,
    created_by: r.created_by,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    finished_at: r.finished_at?.toISOString() ?? null,
  };
}
