import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { toCdcEvent } from '@ipm/events';
import type { EventEntity } from '@ipm/events';
import type { CdcEventDto } from '@ipm/events';
import { isoTimestampSql } from '@ipm/persistence';
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

/** A text column as a JSON value: its string literal, or null. */
const jsonText = (column: string): string => `coalesce(to_json(${column})::text, 'null')`;

/**
 * A `/cdc/list` item as one NDJSON line, built by PostgreSQL: the same fields in the same order as
 * toCdcEvent, with the payload's stored JSON text as it is. The worker then only joins lines:
 * parsing and re-serialising a 1 KiB payload (and two dates) per row was most of an export's CPU.
 */
export const EVENT_LINE_SQL = `'{"event_id":' || ${jsonText('event_id')}
  || ',"event_type":' || ${jsonText('event_type')} || ',"service":' || ${jsonText('service')}
  || ',"action":' || ${jsonText('action')} || ',"payload":' || payload::text
  || ',"logical_guid":' || ${jsonText('logical_guid')} || ',"channel_code":' || ${jsonText('channel_code')}
  || ',"app_id":' || ${jsonText('app_id')} || ',"source":' || ${jsonText('source')}
  || ',"occurred_at":"' || ${isoTimestampSql('occurred_at')} || '","received_at":"' || ${isoTimestampSql('received_at')}
  || '","sequence":"' || seq || '","position":"' || tx_id || '.' || seq || '"}'`;

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
    const order = `ORDER BY tx_id, seq LIMIT ${filter.param(limit)}`;
    if (job.format === 'ndjson') {
      const rows = await db.query<Array<{ tx_id: string; seq: string; line: string }>>(
        `SELECT tx_id, seq, ${EVENT_LINE_SQL} AS line FROM events WHERE ${filter.sql()} ${order}`,
        filter.params,
      );
      const last = rows.at(-1);
      return { docs: [], lines: rows.map((r) => r.line), cursor: last ? `${last.tx_id}.${last.seq}` : null };
    }
    const rows = await db.query<ExportedEventRow[]>(
      `SELECT ${EVENT_ROW_COLUMNS} FROM events WHERE ${filter.sql()} ${order}`,
      filter.params,
    );
    const last = rows.at(-1);
    return { docs: rows.map(eventDoc), cursor: last ? `${last.tx_id}.${last.seq}` : null };
  }
}
