import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppError } from '@ipm/core';
import { AuditService } from '@ipm/audit';
import type { Caller } from '@ipm/auth';
import { CatalogRegistry } from '@ipm/catalog';
import { pgCode } from '@ipm/persistence';
import { PublishItemResultDto, PublishRequestDto, PublishResultDto } from './dto/publish.dto';
import { EventStore, NewEvent } from './event-store.service';
import { planAgainstCatalog } from './catalog-plan';
import { AcceptedItem, ItemVerdict, rejectionDetails } from './publish-plan';

/** Two batches that share event_ids in opposite orders can deadlock; the loser simply runs again. */
const DEADLOCK = '40P01';
const ATTEMPTS = 3;

async function retryOnDeadlock<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (pgCode(err) !== DEADLOCK || attempt >= ATTEMPTS) throw err;
    }
  }
}

function toRow(caller: Caller, a: AcceptedItem): NewEvent {
  return {
    event_id: a.event_id,
    orgcode: caller.orgcode,
    app_id: caller.app_id,
    event_type: a.entry.event_type,
    service: a.entry.service,
    action: a.entry.action,
    payload: a.item.payload,
    logical_guid: a.item.logical_guid ?? null,
    channel_code: a.item.channel_code ?? null,
    source: 'api',
    actor: caller.actor_id,
    occurred_at: a.item.occurred_at === undefined ? null : new Date(a.item.occurred_at),
  };
}

function toItem(v: ItemVerdict, status: PublishItemResultDto['status']): PublishItemResultDto {
  const item: PublishItemResultDto = { index: v.index, event_id: v.event_id, event_type: v.event_type, status };
  if (v.error) item.error = v.error;
  return item;
}

/** `/event/publish`: validate each item against the catalog, store the good ones in one statement. */
@Injectable()
export class EventPublishService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly catalog: CatalogRegistry,
    private readonly store: EventStore,
    private readonly audit: AuditService,
  ) {}

  async publish(caller: Caller, request: PublishRequestDto): Promise<PublishResultDto> {
    const plan = await planAgainstCatalog(this.catalog, caller.orgcode, request.events);
    if (plan.accepted.length === 0) {
      throw AppError.unprocessable(
        `No event was stored: all ${request.events.length} were rejected`,
        rejectionDetails(plan.verdicts),
      );
    }

    const rows = plan.accepted.map((a) => toRow(caller, a));
    const inBatchDuplicates = plan.verdicts.filter((v) => v.status === 'duplicate').length;
    const rejected = plan.verdicts.length - plan.accepted.length - inBatchDuplicates;
    const inserted = await retryOnDeadlock(() =>
      this.dataSource.transaction(async (em) => {
        const result = await this.store.insert(em, rows);
        await this.audit.record(em, caller, request, {
          action: 'event.publish',
          target_type: 'event',
          metadata: {
            submitted: request.events.length,
            stored: result.stored,
            duplicates: result.duplicates + inBatchDuplicates,
            rejected,
            event_types: [...new Set(rows.map((r) => r.event_type))].slice(0, 50),
          },
        });
        return result;
      }),
    );

    const outcome = new Map(plan.accepted.map((a, i) => [a.index, inserted.outcomes[i].status]));
    return {
      items: plan.verdicts.map((v) =>
        toItem(v, v.status === 'accepted' ? (outcome.get(v.index) ?? 'duplicate') : v.status),
      ),
      stored: inserted.stored,
      duplicates: inserted.duplicates + inBatchDuplicates,
      rejected,
    };
  }
}
