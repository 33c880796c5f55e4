import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { IdPrefix, newId } from '@ipm/core';
import type { DeliveryStatus } from '@ipm/lifecycle';
import { redisOptions } from '@ipm/redis';
import type { QueueName } from '@ipm/queues';

/** Fixtures written straight to PostgreSQL, for tests of the delivery routes that need no engine. */
export interface DeliveryFixture {
  orgcode: string;
  webhook_id: string;
  status: DeliveryStatus;
  delivery_id?: string;
  app_id?: string | null;
  event_type?: string;
  event_seq?: string | null;
  event_id?: string;
  origin?: 'event' | 'retry' | 'replay' | 'test';
  replay_id?: string | null;
  created_at?: Date;
  attempt_count?: number;
}

export async function insertDelivery(db: DataSource, f: DeliveryFixture): Promise<string> {
  const id = f.delivery_id ?? newId(IdPrefix.Delivery);
  const created = f.created_at ?? new Date();
  const finished = ['success', 'failed', 'dead_letter'].includes(f.status) ? created : null;
  await db.query(
    `INSERT INTO deliveries (delivery_id, orgcode, app_id, webhook_id, event_seq, event_id, event_type, payload, status,
       origin, retry_of, replay_id, attempt_count, next_attempt_at, created_at, updated_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, NULL, $10, $11, $12, $13, $13, $14)`,
    [
      id,
      f.orgcode,
      f.app_id ?? null,
      f.webhook_id,
      f.event_seq ?? null,
      f.event_id ?? newId(IdPrefix.Event),
      f.event_type ?? 'rfp.created',
      f.status,
      f.origin ?? 'event',
      f.replay_id ?? null,
      f.attempt_count ?? (f.status === 'pending' ? 0 : 1),
      finished ? null : created,
      created,
      finished,
    ],
  );
  return id;
}

export interface AttemptFixture {
  delivery_id: string;
  orgcode: string;
  webhook_id: string;
  attempt_no: number;
  started_at?: Date;
  duration_ms?: number;
  status_code?: number | null;
  error_kind?: string | null;
  error?: string | null;
  outcome?: string;
}

export async function insertAttempt(db: DataSource, a: AttemptFixture): Promise<void> {
  await db.query(
    `INSERT INTO delivery_attempts (delivery_id, orgcode, webhook_id, attempt_no, started_at, duration_ms, status_code,
       error_kind, error, response_headers, response_excerpt, outcome)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      a.delivery_id,
      a.orgcode,
      a.webhook_id,
      a.attempt_no,
      a.started_at ?? new Date(),
      a.duration_ms ?? 100,
      a.status_code === undefined ? 200 : a.status_code,
      a.error_kind ?? null,
      a.error ?? null,
      JSON.stringify({ 'content-type': 'text/plain' }),
      `attempt ${a.attempt_no}`,
      a.outcome ?? 'success',
    ],
  );
}

export interface EventFixture {
  orgcode: string;
  event_type: string;
  received_at: Date;
  app_id?: string | null;
}

/** A stored event (no outbox row: the fan-out never sees it); returns its seq. */
export async function insertEvent(db: DataSource, e: EventFixture): Promise<string> {
  const [service, ...action] = e.event_type.split('.');
  const rows: Array<{ seq: string }> = await db.query(
    `INSERT INTO events (event_id, orgcode, app_id, event_type, service, action, payload, source, actor, occurred_at, received_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'api', 'user_1', $8, $8) RETURNING seq::text AS seq`,
    [
      `evt-${randomUUID()}`,
      e.orgcode,
      e.app_id ?? null,
      e.event_type,
      service,
      action.join('.'),
      JSON.stringify({ n: 1 }),
      e.received_at,
    ],
  );
  return rows[0].seq;
}

/** A queue handle of the test's own, under the run's (or the file's) QUEUE_PREFIX. */
export function inspectQueue(name: QueueName): Queue {
  return new Queue(name, {
    connection: redisOptions(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
    prefix: process.env.QUEUE_PREFIX,
  });
}

export const minutesAgo = (m: number, from: Date = new Date()): Date => new Date(from.getTime() - m * 60_000);
