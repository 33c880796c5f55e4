import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { IdPrefix, newId } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { CatalogRegistry } from '@ipm/catalog';
import { failuresText } from '@ipm/catalog';
import { EventStore } from './event-store.service';
import { PLATFORM_EVENT_SERVICE } from './publish-plan';

export interface PlatformEventOptions {
  /** The entity the event is about (e.g. a webhook id), for /cdc/list's logical_guid filter. */
  logical_guid?: string;
}

/**
 * Our own changes as events (`ipm.<action>`), stored in the caller's transaction so that the change
 * and its event commit or roll back together. The payload must match the catalog schema: a
 * mismatch is a bug in the emitting service, so it throws (and the transaction rolls back).
 */
@Injectable()
export class PlatformEvents {
  constructor(
    private readonly catalog: CatalogRegistry,
    private readonly store: EventStore,
  ) {}

  /** Stores `ipm.<action>` for the caller's tenant; returns its event_id. */
  async emit(
    em: EntityManager,
    caller: Caller,
    action: string,
    payload: object,
    options: PlatformEventOptions = {},
  ): Promise<string> {
    const eventType = `${PLATFORM_EVENT_SERVICE}.${action}`;
    const entry = (await this.catalog.findMany(caller.orgcode, [eventType])).get(eventType);
    if (!entry || entry.source !== 'platform' || entry.service !== PLATFORM_EVENT_SERVICE) {
      throw new Error(`platform event ${eventType} is not in the platform catalog`);
    }
    const failures = this.catalog.validatePlatform(entry, payload);
    if (failures.length)
      throw new Error(`platform event ${eventType} does not match its schema: ${failuresText(failures)}`);
    const event_id = newId(IdPrefix.Event);
    await this.store.insert(em, [
      {
        event_id,
        orgcode: caller.orgcode,
        app_id: caller.app_id,
        event_type: eventType,
        service: entry.service,
        action: entry.action,
        payload,
        logical_guid: options.logical_guid ?? null,
        channel_code: null,
        source: 'platform',
        actor: caller.actor_id,
        occurred_at: null,
      },
    ]);
    return event_id;
  }
}
