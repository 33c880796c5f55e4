import type { NewEvent } from '@ipm/events';

/** A minimal valid `rfp.cancelled` event row for the event store's tests. */
export function newEventRow(event_id: string, orgcode = 'acme', extra: Partial<NewEvent> = {}): NewEvent {
  return {
    event_id,
    orgcode,
    app_id: null,
    event_type: 'rfp.cancelled',
    service: 'rfp',
    action: 'cancelled',
    payload: { rfp_id: event_id },
    logical_guid: null,
    channel_code: null,
    source: 'api',
    actor: 'user_1',
    occurred_at: null,
    ...extra,
  };
}
