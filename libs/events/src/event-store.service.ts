import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { EventSource } from './entities/event.entity';

/** An event to store. `received_at` is the database's clock at the transaction's start. */
export interface NewEvent {
  event_id: string;
  orgcode: string;
  app_id: string | null;
  event_type: string;
  service: string;
  action: string;
  payload: object;
  logical_guid: string | null;
  channel_code: string | null;
  source: EventSource;
  actor: string;
  /** When it happened, as the publisher says; null = when it was received. */
  occurred_at: Date | null;
  /**
   * The JSON text of an object whose `payload` member is this payload (a bulk import's NDJSON line):
   * sent as it is, and PostgreSQL takes the payload out of it, so the payload is not serialised
   * again. `payload` must be what that text parses to (the caller's checks ran on it).
   */
  payload_source?: string;
}

export type InsertOutcome = { status: 'stored'; sequence: string } | { status: 'duplicate' };

export interface InsertResult {
  /** One per input row, in input order. */
  outcomes: InsertOutcome[];
  stored: number;
  duplicates: number;
}

/**
 * The whole batch travels as ONE jsonb parameter (an array of row arrays): a 500-event batch is
 * one statement with 1 parameter instead of 6,500, which PostgreSQL parses and plans far faster
 * and which can never reach the 65,535-parameter limit. The data-modifying CTE inserts the events
 * (arrival order = input order), skips (orgcode, event_id) that exist, and writes the outbox row of
 * each stored event: one round trip, atomic with whatever else the caller's transaction does.
 */
export const INSERT_EVENTS_SQL = `
WITH src AS (
  SELECT r->>0 AS event_id, r->>1 AS orgcode, r->>2 AS app_id, r->>3 AS event_type, r->>4 AS service,
         r->>5 AS action, COALESCE(r->12->'payload', r->6) AS payload, r->>7 AS logical_guid, r->>8 AS channel_code, r->>9 AS source,
         r->>10 AS actor, (r->>11)::timestamptz AS occurred_at, n
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(r, n)
), stored AS (
  INSERT INTO events (event_id, orgcode, app_id, event_type, service, action, payload, logical_guid,
                      channel_code, source, actor, occurred_at, received_at)
  SELECT event_id, orgcode, app_id, event_type, service, action, payload, logical_guid, channel_code,
         source, actor, COALESCE(occurred_at, now()), now()
  FROM src ORDER BY n
  ON CONFLICT (orgcode, event_id) DO NOTHING
  RETURNING seq, orgcode, event_id
), outbox AS (
  INSERT INTO event_outbox (event_seq, orgcode, created_at) SELECT seq, orgcode, now() FROM stored
)
SELECT seq::text AS seq, orgcode, event_id FROM stored`;

/** The NOTIFY channel a transaction that stored events signals on commit. */
export const OUTBOX_CHANNEL = 'ipm_outbox';

const key = (orgcode: string, eventId: string): string => `${orgcode}\n${eventId}`;

/**
 * The statement's one parameter; repeats of an (orgcode, event_id) within the batch are left out.
 * Each row: event_id, orgcode, app_id, event_type, service, action, payload, logical_guid,
 * channel_code, source, actor, occurred_at, and (with `payload_source`) that text, payload null.
 */
export function encodeBatch(rows: readonly NewEvent[]): { json: string; sent: boolean[] } {
  const seen = new Set<string>();
  const sent: boolean[] = [];
  const parts: string[] = [];
  for (const r of rows) {
    const k = key(r.orgcode, r.event_id);
    if (seen.has(k)) {
      sent.push(false);
      continue;
    }
    seen.add(k);
    sent.push(true);
    const fields = JSON.stringify([
      r.event_id,
      r.orgcode,
      r.app_id,
      r.event_type,
      r.service,
      r.action,
      r.payload_source === undefined ? r.payload : null,
      r.logical_guid,
      r.channel_code,
      r.source,
      r.actor,
      r.occurred_at?.toISOString() ?? null,
    ]);
    // The payload's source text goes in as a 13th element, spliced unparsed.
    parts.push(r.payload_source === undefined ? fields : `${fields.slice(0, -1)},${r.payload_source}]`);
  }
  return { json: `[${parts.join(',')}]`, sent };
}

/** Which input rows were stored (with their sequence) and which were already there. */
export function matchOutcomes(
  rows: readonly NewEvent[],
  sent: readonly boolean[],
  returned: ReadonlyArray<{ seq: string; orgcode: string; event_id: string }>,
): InsertResult {
  const seqs = new Map(returned.map((r) => [key(r.orgcode, r.event_id), r.seq]));
  const outcomes = rows.map((r, i): InsertOutcome => {
    const seq = sent[i] ? seqs.get(key(r.orgcode, r.event_id)) : undefined;
    return seq === undefined ? { status: 'duplicate' } : { status: 'stored', sequence: seq };
  });
  return { outcomes, stored: returned.length, duplicates: rows.length - returned.length };
}

/** A batch encoded ahead of its transaction (EventStore.prepare), for insertPrepared. */
export interface PreparedInsert {
  rows: readonly NewEvent[];
  json: string;
  sent: boolean[];
}

/** Writes events and their outbox rows inside the caller's transaction. */
@Injectable()
export class EventStore {
  /** Encodes a batch for insertPrepared: CPU work that needs no transaction. */
  prepare(rows: readonly NewEvent[]): PreparedInsert {
    return { rows, ...encodeBatch(rows) };
  }

  /**
   * Stores `rows` with one statement; an (orgcode, event_id) that exists, or that repeats an
   * earlier row of the batch, is a duplicate. Call it inside a transaction (`em` of
   * `dataSource.transaction`) so that the events commit with the change that caused them.
   */
  insert(em: EntityManager, rows: readonly NewEvent[]): Promise<InsertResult> {
    return this.insertPrepared(em, this.prepare(rows));
  }

  /** `insert` of a batch encoded beforehand. */
  async insertPrepared(em: EntityManager, { rows, json, sent }: PreparedInsert): Promise<InsertResult> {
    if (rows.length === 0) return { outcomes: [], stored: 0, duplicates: 0 };
    const returned = await em.query<Array<{ seq: string; orgcode: string; event_id: string }>>(INSERT_EVENTS_SQL, [
      json,
    ]);
    // Wakes the fan-out relays when the transaction commits (they also poll, in case one is missed).
    if (returned.length > 0) await em.query(`SELECT pg_notify($1, '')`, [OUTBOX_CHANNEL]);
    return matchOutcomes(rows, sent, returned);
  }
}
