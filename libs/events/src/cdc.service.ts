import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Page, PageTokens } from '@ipm/core';
import type { Caller } from '@ipm/auth/principal';
import { fetchKeysetPage } from '@ipm/persistence';
import { CdcEventDto, CdcListRequestDto } from './dto/cdc.dto';
import { EventEntity } from './entities/event.entity';

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
  };
}

/** `/cdc/list`: the tenant's events in arrival order, the change feed. */
@Injectable()
export class CdcService {
  constructor(
    @InjectRepository(EventEntity) private readonly repo: Repository<EventEntity>,
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
    const { limit, cursor } = this.pages.read(request, scope);
    const qb = this.repo.createQueryBuilder('e').where('e.orgcode = :orgcode', { orgcode: caller.orgcode });
    if (caller.app_id) qb.andWhere('e.app_id = :app_id', { app_id: caller.app_id });
    if (filters.service) qb.andWhere('e.service = :service', { service: filters.service });
    if (filters.event_type) qb.andWhere('e.event_type = :event_type', { event_type: filters.event_type });
    if (filters.logical_guid) qb.andWhere('e.logical_guid = :logical_guid', { logical_guid: filters.logical_guid });
    if (filters.channel_code) qb.andWhere('e.channel_code = :channel_code', { channel_code: filters.channel_code });
    if (after) qb.andWhere('e.received_at > :after', { after });
    if (before) qb.andWhere('e.received_at < :before', { before });
    const { rows, next } = await fetchKeysetPage(
      qb,
      { columns: ['e.seq'], direction: 'ASC', cursorOf: (r) => [r.seq] },
      cursor,
      limit,
    );
    return { items: rows.map(toCdcEvent), next_token: this.pages.write(scope, next) };
  }
}
