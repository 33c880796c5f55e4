import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { toCdcEvent } from '@ipm/events/cdc.service';
import type { EventEntity } from '@ipm/events/entities/event.entity';
import type { CdcEventDto } from '@ipm/events/dto/cdc.dto';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import { SqlFilter } from './sql-filter';
import type { ExportPage, ExportSource } from './targets';

/** The CSV columns of an event: `/cdc/list`'s item fields, in order (payload as JSON text). */
export const EVENT_EXPORT_COLUMNS = [
  'event_id',
  'event_type',
  'service',
  'action',
  'payload',
  'logical_guid',
  'channel_code',
  'app_id',
  'source',
  'occurred_at',
  'received_at',
  'sequence',
  'position',
] as const;

/** An events row as an export reads it: the payload as PostgreSQL's JSON text, not parsed. */
export type ExportedEventRow = Omit<EventEntity, 'payload'> & { payload: string };

/** The columns an export reads (every one `/cdc/list` shows), the payload as text. */
const EVENT_ROW_COLUMNS = `event_id, event_type, service, action, payload::text AS payload, logical_guid, channel_code,
  app_id, source, occurred_at, received_at, seq, tx_id`;

const q = JSON.stringify;

/**
 * A `/cdc/list` item as one NDJSON line, with the payload's JSON text spliced in as PostgreSQL sent
 * it: parsing and re-serialising a 1 KiB payload per row is most of what an export would cost.
 * Same fields, same order as toCdcEvent.
 */
export function eventLine(r: ExportedEventRow): string {
  return (
    `{"event_id":${q(r.event_id)},"event_type":${q(r.event_type)},"service":${q(r.service)},` +
    `"action":${q(r.action)},"payload":${r.payload},"logical_guid":${q(r.logical_guid)},` +
    `"channel_code":${q(r.channel_code)},"app_id":${q(r.app_id)},"source":${q(r.source)},` +
    `"occurred_at":"${r.occurred_at.toISOString()}","received_at":"${r.received_at.toISOString()}",` +
    `"sequence":"${r.seq}","position":"${r.tx_id}.${r.seq}"}`
  );
}

/** A CSV record's fields: toCdcEvent's, with the payload's JSON text as it is. */
function eventDoc(r: ExportedEventRow): Omit<CdcEventDto, 'payload'> & { payload: string } {
  return { ...toCdcEvent({ ...r, payload: {} }), payload: r.payload };
}

/** `tx_id.seq`, as `/cdc/list` shows an event's `position`. */
function parsePosition(cursor: string): [string, string] {
  const match = /^(\d{1,19})\.(\d{1,19})$/.exec(cursor);
  if (!match) throw new Error(`not an events export cursor: ${cursor}`);
  return [match[1], match[2]];
}

function eventFilter(job: BulkJobEntity): SqlFilter {
  const filter = new SqlFilter().eq('orgcode', job.orgcode);
  if (job.app_id) filter.eq('app_id', job.app_id);
  const { service, event_type, from_utc, to_utc } = job.options;
  if (service) filter.eq('service', service);
  if (event_type) filter.eq('event_type', event_type);
  if (from_utc) filter.cmp('occurred_at', '>=', new Date(from_utc));
  if (to_utc) filter.cmp('occurred_at', '<', new Date(to_utc));
  return filter;
}

/**
 * Events in change-feed order (`tx_id`, `seq`): the `ix_events_org_tx_seq` index serves the pages,
 * and the cursor is the last row's `position`. Docs are `/cdc/list` items.
 *
 * Unlike /cdc/list, an export does not wait for the commit horizon: a feed reader polls again, but
 * an export that met an empty page would end, and one long transaction anywhere on the server holds
 * the horizon back. An export holds every row committed before it started, and a row that commits
 * while it runs appears when its position is still ahead of the cursor (as for every other target).
 */
@Injectable()
export class EventExport implements ExportSource {
  readonly columns = EVENT_EXPORT_COLUMNS;

  async count(db: EntityManager, job: BulkJobEntity): Promise<number> {
    const filter = eventFilter(job);
    const [row] = await db.query<Array<{ n: string }>>(
      `SELECT count(*) AS n FROM events WHERE ${filter.sql()}`,
      filter.params,
    );
    return Number(row.n);
  }

  async page(db: EntityManager, job: BulkJobEntity, after: string | null, limit: number): Promise<ExportPage> {
    const filter = eventFilter(job);
    if (after !== null) {
      const [tx, seq] = parsePosition(after);
      filter.raw(`(tx_id, seq) > (${filter.param(tx)}::bigint, ${filter.param(seq)}::bigint)`);
    }
    const rows = await db.query<ExportedEventRow[]>(
      `SELECT ${EVENT_ROW_COLUMNS} FROM events WHERE ${filter.sql()} ORDER BY tx_id, seq LIMIT ${filter.param(limit)}`,
      filter.params,
    );
    const last = rows.at(-1);
    const cursor = last ? `${last.tx_id}.${last.seq}` : null;
    if (job.format === 'ndjson') return { docs: [], lines: rows.map(eventLine), cursor };
    return { docs: rows.map(eventDoc), cursor };
  }
}
