import { Injectable } from '@nestjs/common';
import { AppError, Page, PageTokens } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { fetchKeysetPage } from '@ipm/persistence';
import { CdcEventDto, CdcListRequestDto } from './dto/cdc.dto';
import type { EventEntity } from './entities/event.entity';
import { EventsRepository } from './entities/events.repository';

export function toCdcEvent(e: EventEntity): CdcEventDto {
  return {
    event_id: e.event_id,
    event_type: e.event_type,
    service: e.service,
    action: e.action,
    payload: e.payload,
    logical_guid: e.logical_guid,
    channel_code: e.channel_code,
    app_id: e.app_id,
    source: e.source,
    occurred_at: e.occurred_at.toISOString(),
    received_at: e.received_at.toISOString(),
    sequence: e.seq,
    position: `${e.tx_id}.${e.seq}`,
  };
}

/**
 * The commit horizon: the oldest transaction id still running on the server (its snapshot's xmin;
 * the next id to be assigned when none runs), of the statement's own snapshot. Every transaction
 * below it has ended, and every transaction that can still write got an id at or above it.
 */
export const COMMIT_HORIZON_SQL = 'CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)';

/**
 * `/cdc/list`: the tenant's change feed, in the order of `(tx_id, seq)`, gap-free.
 *
 * `seq` alone is not a feed order: identities are drawn at INSERT time, so a transaction that drew
 * seq 5 can commit after one that drew seq 6, and a reader that had already passed 6 would never see
 * 5. Instead the feed serves only rows whose transaction id is below the commit horizon of the
 * statement's snapshot: those transactions have all ended (so every row they committed is visible
 * to this very statement), and any row written later carries a transaction id at or above the
 * horizon, that is, after every position served so far. The feed is therefore append-only: a
 * cursor (the last `(tx_id, seq)` served) never has a row appear behind it. The price is latency: a
 * row waits until every transaction older than its own has ended, on the whole server (transaction
 * ids are server-wide, so another database's open transaction holds this feed back too). A session
 * left idle in a transaction, or a forgotten prepared transaction, stalls every feed until it ends:
 * bound them (idle_in_transaction_session_timeout) where the feed's latency matters.
 */
@Injectable()
export class CdcService {
  constructor(
    private readonly repo: EventsRepository,
    private readonly pages: PageTokens,
  ) {}

  async list(caller: Caller, request: CdcListRequestDto): Promise<Page<CdcEventDto>> {
    // Normalised instants: `+02:00` and `Z` spellings of one time are one filter.
    const after = request.after === undefined ? undefined : new Date(request.after).toISOString();
    const before = request.before === undefined ? undefined : new Date(request.before).toISOString();
    const filters = {
      service: request.service,
      event_type: request.event_type,
      logical_guid: request.logical_guid,
      channel_code: request.channel_code,
      after,
      before,
      app: caller.app_id,
    };
    const scope = { orgcode: caller.orgcode, resource: 'cdc.list', filters };
    // IsOptional lets null through: null means absent here.
    const afterPosition = request.after_position ?? undefined;
    if (afterPosition !== undefined && request.next_token != null) {
      throw AppError.badRequest('Give after_position or next_token, not both', 'after_position');
    }
    const { limit, cursor: tokenCursor } = this.pages.read(request, scope);
    const MAX_BIGINT = 9223372036854775807n;
    if (afterPosition?.split('.').some((part) => BigInt(part) > MAX_BIGINT)) {
      throw AppError.badRequest('after_position is out of range', 'after_position');
    }
    // A position is the same keyset cursor as a token's, (tx_id, seq), spelled openly.
    const cursor = afterPosition === undefined ? tokenCursor : afterPosition.split('.');
    const qb = this.repo.query(caller, 'e');
    if (filters.service) qb.andWhere('e.service = :service', { service: filters.service });
    if (filters.event_type) qb.andWhere('e.event_type = :event_type', { event_type: filters.event_type });
    if (filters.logical_guid) qb.andWhere('e.logical_guid = :logical_guid', { logical_guid: filters.logical_guid });
    if (filters.channel_code) qb.andWhere('e.channel_code = :channel_code', { channel_code: filters.channel_code });
    if (after) qb.andWhere('e.received_at > :after', { after });
    if (before) qb.andWhere('e.received_at < :before', { before });
    // One statement, so one snapshot: the horizon and the rows come from the same one.
    qb.andWhere(`e.tx_id < ${COMMIT_HORIZON_SQL}`);
    const { rows, next } = await fetchKeysetPage(
      qb,
      { columns: ['e.tx_id', 'e.seq'], direction: 'ASC', cursorOf: (r) => [r.tx_id, r.seq] },
      cursor,
      limit,
    );
    return { items: rows.map(toCdcEvent), next_token: this.pages.write(scope, next) };
  }
}
