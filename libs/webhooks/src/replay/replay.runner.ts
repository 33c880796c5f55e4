import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { IdPrefix, newId } from '@ipm/core';
import { JobHandler } from '@ipm/queues';
import type { JobContext, ReplayJob } from '@ipm/queues';
import { DeliveryScheduler, NewDelivery } from '../engine/delivery-scheduler';
import { WebhookReplayEntity, type ReplayStatus } from '../entities/webhook-replay.entity';
import type { WebhookEntity } from '../entities/webhook.entity';
import { WebhookRepository } from '../webhook.repository';
import { ReplayRepository } from './replay.repository';
import { receives } from '../engine/outbox-relay';

/** Stored events read per transaction. */
export const REPLAY_BATCH = 500;

/** The part of a stored event a replay needs. */
export interface ReplayEventRow {
  seq: string;
  event_id: string;
  app_id: string | null;
  event_type: string;
}

export interface ReplayRunResult {
  replay_id: string;
  status: ReplayStatus | 'missing';
  /** Deliveries created by this run (not counting earlier runs of the same replay). */
  created: number;
}

interface BatchOutcome {
  rows: NewDelivery[];
  status: ReplayStatus;
}

/**
 * The `replay.run` job: walks a replay's window of the tenant's stored events in seq order,
 * REPLAY_BATCH at a time. Each batch is one transaction that creates the deliveries and moves the
 * cursor together, so a run that dies resumes after the last committed batch and never creates a
 * delivery twice; the deliveries are enqueued after each commit (the sweeper covers a lost enqueue).
 */
@Injectable()
export class ReplayRunner {
  private readonly logger = new Logger(ReplayRunner.name);
  private readonly replays: ReplayRepository;
  private readonly webhooks: WebhookRepository;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly scheduler: DeliveryScheduler,
  ) {
    this.replays = new ReplayRepository(dataSource);
    this.webhooks = new WebhookRepository(dataSource);
  }

  @JobHandler('replay.run')
  async run(payload: ReplayJob, ctx?: JobContext<'replay.run'>): Promise<ReplayRunResult> {
    const { replay_id } = payload;
    const replay = await this.replays.byJob(replay_id);
    if (!replay) {
      this.logger.warn(`replay ${replay_id} does not exist; nothing to do`);
      return { replay_id, status: 'missing', created: 0 };
    }
    if (replay.status === 'completed' || replay.status === 'failed') {
      return { replay_id, status: replay.status, created: 0 };
    }
    await this.replays.markRunning(replay);
    let created = 0;
    for (;;) {
      // Stop between batches at shutdown; the job fails and is retried, resuming from the cursor.
      if (ctx?.signal?.aborted) throw new Error(`replay ${replay_id} interrupted by shutdown`);
      const batch = await this.dataSource.transaction((em) => this.batch(em, replay_id));
      await this.scheduler.enqueue(batch.rows);
      created += batch.rows.length;
      if (batch.status !== 'running') return { replay_id, status: batch.status, created };
    }
  }

  /** One batch in `em`'s transaction; the replay row stays locked until it commits. */
  private async batch(em: EntityManager, replayId: string): Promise<BatchOutcome> {
    const replay = await this.replays.byJob(replayId, em);
    if (!replay) return { rows: [], status: 'failed' };
    if (replay.status === 'completed' || replay.status === 'failed') return { rows: [], status: replay.status };
    const now = new Date();
    const webhook = await this.webhooks.findOne(replay, { webhook_id: replay.webhook_id }, { em });
    if (!webhook || webhook.is_deleted || webhook.status !== 'active') {
      const error = !webhook || webhook.is_deleted ? 'the webhook was deleted' : `the webhook is ${webhook.status}`;
      await this.replays.update(
        replay,
        { replay_id: replayId },
        { status: 'failed', error, updated_at: now, finished_at: now },
        em,
      );
      this.logger.warn(`replay ${replayId} stopped: ${error}`);
      return { rows: [], status: 'failed' };
    }

    const events = await this.readEvents(em, replay, webhook);
    let kept = events.filter((e) => receives(webhook, e));
    if (replay.only_failed && kept.length) {
      const delivered = await this.deliveredSeqs(
        em,
        webhook,
        kept.map((e) => e.seq),
      );
      kept = kept.filter((e) => !delivered.has(e.seq));
    }
    const rows: NewDelivery[] = kept.map((e) => ({
      delivery_id: newId(IdPrefix.Delivery),
      orgcode: webhook.orgcode,
      app_id: e.app_id, // as the fan-out does: the event's application
      webhook_id: webhook.webhook_id,
      event_seq: e.seq,
      event_id: e.event_id,
      event_type: e.event_type,
      origin: 'replay',
      replay_id: replayId,
    }));
    await this.scheduler.insert(em, rows);
    const status: ReplayStatus = events.length < REPLAY_BATCH ? 'completed' : 'running';
    await this.replays.update(
      replay,
      { replay_id: replayId },
      {
        status,
        cursor: events.length ? events[events.length - 1].seq : replay.cursor,
        events_matched: replay.events_matched + rows.length,
        updated_at: now,
        finished_at: status === 'completed' ? now : null,
      },
      em,
    );
    return { rows, status };
  }

  /** The next batch of the tenant's events in the window after the cursor, in seq order. */
  private readEvents(
    em: EntityManager,
    replay: WebhookReplayEntity,
    webhook: WebhookEntity,
  ): Promise<ReplayEventRow[]> {
    const params: unknown[] = [replay.orgcode, replay.cursor ?? '0'];
    const where = ['e.orgcode = $1', 'e.seq > $2::bigint'];
    if (replay.window_after) where.push(`e.received_at >= $${params.push(replay.window_after)}`);
    if (replay.window_before) where.push(`e.received_at < $${params.push(replay.window_before)}`);
    if (webhook.app_id) where.push(`e.app_id = $${params.push(webhook.app_id)}`);
    return em.query(
      // ORDER BY the column, not the text alias of the same name (which would sort '10' before '9').
      `SELECT e.seq::text AS seq, e.event_id, e.app_id, e.event_type FROM events e
       WHERE ${where.join(' AND ')} ORDER BY e.seq LIMIT $${params.push(REPLAY_BATCH)}`,
      params,
    );
  }

  /** Which of these events this webhook already received successfully (ix_deliveries_webhook_event). */
  private async deliveredSeqs(
    em: EntityManager,
    webhook: WebhookEntity,
    seqs: readonly string[],
  ): Promise<Set<string>> {
    const rows: Array<{ seq: string }> = await em.query(
      `SELECT DISTINCT event_seq::text AS seq FROM deliveries
       WHERE webhook_id = $1 AND orgcode = $3 AND event_seq = ANY($2::bigint[]) AND status = 'success'`,
      [webhook.webhook_id, seqs, webhook.orgcode],
    );
    return new Set(rows.map((r) => r.seq));
  }
}
