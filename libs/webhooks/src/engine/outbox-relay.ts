import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { acrossTenants } from '@ipm/persistence';
import { OUTBOX_CHANNEL } from '@ipm/events';
import { AppConfig, IdPrefix, newId } from '@ipm/core';
import { QueueName, servesQueue } from '@ipm/queues';
import { DeliveryMetrics } from './delivery-metrics';
import type { EventFilter } from '../entities/webhook.entity';
import { matchesFilters } from '../event-filters';
import { BackgroundLoop } from './background-loop';
import { assignBatches, DeliveryScheduler, NewDelivery } from './delivery-scheduler';

/** Outbox rows claimed per round. */
export const RELAY_BATCH = 500;
/** Deliveries per addBulk call (a multiple of the batch size, so that no batch job is split). */
const ENQUEUE_CHUNK = 1024;
/** Pause after a failed round (PostgreSQL or Redis unavailable). */
const ERROR_PAUSE_MS = 1000;

/**
 * Claims up to `$1` outbox rows (oldest first; rows another relay holds are skipped, so several
 * workers relay in parallel without overlap), deletes them, and returns their events.
 */
const CLAIM_OUTBOX_SQL = `
WITH claimed AS (
  DELETE FROM event_outbox
   WHERE seq IN (SELECT seq FROM event_outbox WHERE processed_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
  RETURNING event_seq
)
SELECT e.seq::text AS seq, e.event_id, e.orgcode, e.app_id, e.event_type
  FROM events e JOIN claimed c ON e.seq = c.event_seq
 ORDER BY e.seq`;

interface OutboxEvent {
  seq: string;
  event_id: string;
  orgcode: string;
  app_id: string | null;
  event_type: string;
}

interface Subscriber {
  webhook_id: string;
  orgcode: string;
  app_id: string | null;
  event_filters: EventFilter[];
}

/** Whether a webhook receives an event: its filters match, and an app's webhook gets only that app's events. */
export function receives(
  webhook: Pick<Subscriber, 'app_id' | 'event_filters'>,
  event: Pick<OutboxEvent, 'app_id' | 'event_type'>,
): boolean {
  return (
    (webhook.app_id === null || webhook.app_id === event.app_id) &&
    matchesFilters(webhook.event_filters, event.event_type)
  );
}

/**
 * The fan-out: moves stored events from the outbox into deliveries. Each round, in one
 * transaction, it claims a batch of outbox rows, finds the matching active webhooks of each
 * event's tenant, and inserts one `pending` delivery per (event, webhook) in one statement; after
 * the commit it enqueues them with addBulk (job id = delivery id, so a delivery is never queued
 * twice). A crash between commit and enqueue leaves due rows for the sweeper. It loops without
 * pause while there is work, and polls every RELAY_POLL_MS when there is none.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly loop = new BackgroundLoop(() => this.round());
  /** Set by a notification that arrived while a round was running: go again without sleeping. */
  private notified = false;
  private listener?: Client;
  private listening?: Promise<void>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly scheduler: DeliveryScheduler,
    private readonly config: AppConfig,
    private readonly metrics: DeliveryMetrics,
  ) {}

  /**
   * Runs where the `delivery` queue is served (WORKER_QUEUES): the relay feeds that queue, so it
   * scales with the delivery workers, and a worker dedicated to other queues stays off the outbox.
   */
  onApplicationBootstrap(): void {
    if (!servesQueue(this.config, QueueName.Delivery)) {
      this.logger.log('outbox relay off: this worker does not serve the delivery queue (WORKER_QUEUES)');
      return;
    }
    this.loop.start();
    this.listening = this.listen();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.loop.stop();
    await this.listener?.end().catch(() => undefined);
    await this.listening;
  }

  /**
   * LISTENs on the outbox channel with a connection of its own, so that a commit wakes the relay at
   * once instead of at its next poll; reconnects after an error. Polling goes on regardless, so a
   * lost notification costs at most RELAY_POLL_MS.
   */
  private async listen(): Promise<void> {
    while (this.loop.active) {
      const client = new Client({ connectionString: this.config.DATABASE_URL, application_name: 'ipm-outbox-relay' });
      this.listener = client;
      const ended = new Promise<void>((resolve) => {
        client.once('end', resolve);
        client.once('error', (err: Error) => {
          this.logger.warn(`outbox listener: ${err.message}`);
          resolve();
        });
      });
      client.on('notification', () => {
        this.notified = true;
        this.loop.wake();
      });
      try {
        await client.connect();
        // Shutdown may have come while connecting (ending a client that is not yet connecting is a no-op).
        if (this.loop.active) {
          await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
          await ended;
        }
      } catch (err) {
        if (this.loop.active) this.logger.warn(`outbox listener: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.listener = undefined;
      await client.end().catch(() => undefined);
      if (this.loop.active) await sleep(ERROR_PAUSE_MS);
    }
  }

  /** One round: returns how many outbox rows it handled. */
  async relayOnce(): Promise<number> {
    const { events, deliveries } = await this.dataSource.transaction(async (em) => {
      const claimed = await acrossTenants('the relay fans out every tenant’s committed events in commit order', () =>
        em.query<OutboxEvent[]>(CLAIM_OUTBOX_SQL, [RELAY_BATCH]),
      );
      if (claimed.length === 0) return { events: 0, deliveries: [] as NewDelivery[] };
      const orgs = [...new Set(claimed.map((e) => e.orgcode))];
      const subscribers = await em.query<Subscriber[]>(
        `SELECT webhook_id, orgcode, app_id, event_filters FROM webhooks
          WHERE orgcode = ANY($1::varchar[]) AND status = 'active' AND is_deleted = false
          ORDER BY webhook_id`,
        [orgs],
      );
      const byOrg = new Map<string, Subscriber[]>();
      for (const s of subscribers) {
        const list = byOrg.get(s.orgcode) ?? [];
        list.push(s);
        byOrg.set(s.orgcode, list);
      }
      const rows: NewDelivery[] = [];
      const now = Date.now();
      for (const event of claimed) {
        for (const webhook of byOrg.get(event.orgcode) ?? []) {
          if (!receives(webhook, event)) continue;
          rows.push({
            delivery_id: newId(IdPrefix.Delivery, now),
            orgcode: event.orgcode,
            app_id: event.app_id,
            webhook_id: webhook.webhook_id,
            event_seq: event.seq,
            event_id: event.event_id,
            event_type: event.event_type,
            origin: 'event',
          });
        }
      }
      assignBatches(rows);
      await this.scheduler.insert(em, rows);
      return { events: claimed.length, deliveries: rows };
    });
    if (events > 0) {
      this.metrics.outboxEvents.inc(events);
      this.metrics.deliveriesCreated.inc(deliveries.length);
    }
    for (let i = 0; i < deliveries.length; i += ENQUEUE_CHUNK) {
      try {
        await this.scheduler.enqueue(deliveries.slice(i, i + ENQUEUE_CHUNK));
      } catch (err) {
        // Committed rows are safe in PostgreSQL: the sweeper enqueues them once they are overdue.
        this.logger.warn(
          `could not enqueue ${deliveries.length - i} deliveries (the sweeper will): ${
            err instanceof Error ? err.message : String(err)
          }`,
        );
        break;
      }
    }
    return events;
  }

  /** One round of the loop; returns the pause before the next (none while there is work). */
  private async round(): Promise<number> {
    this.notified = false;
    try {
      const handled = await this.relayOnce();
      return handled === 0 && !this.notified ? this.config.RELAY_POLL_MS : 0;
    } catch (err) {
      this.logger.error(`relay round failed: ${err instanceof Error ? err.message : String(err)}`);
      return ERROR_PAUSE_MS;
    }
  }
}
