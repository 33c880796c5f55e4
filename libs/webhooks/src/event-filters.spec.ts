import type { EventTypeEntry } from '@ipm/catalog';
import type { EventFilter } from './entities/webhook.entity';
import { matchesFilters, normalizeFilters, unknownFilterDetails, unknownFiltersError } from './event-filters';

describe('matchesFilters', () => {
  it('no filters: every event, whatever its type', () => {
    for (const t of ['rfp.created', 'ipm.webhook.created', 'x.y', 'malformed', ''])
      expect(matchesFilters([], t)).toBe(true);
  });

  it('a service alone: every action of that service, nothing of another', () => {
    const f: EventFilter[] = [{ service: 'rfp' }];
    expect(matchesFilters(f, 'rfp.created')).toBe(true);
    expect(matchesFilters(f, 'rfp.status_changed')).toBe(true);
    expect(matchesFilters(f, 'rfp.bid.received')).toBe(true);
    expect(matchesFilters(f, 'ipm.webhook.created')).toBe(false);
  });

  it('the service is the first segment, compared whole (no prefix, no case folding)', () => {
    expect(matchesFilters([{ service: 'rf' }], 'rfp.created')).toBe(false);
    expect(matchesFilters([{ service: 'rfpx' }], 'rfp.created')).toBe(false);
    expect(matchesFilters([{ service: 'RFP' }], 'rfp.created')).toBe(false);
    expect(matchesFilters([{ service: 'ipm' }], 'ipm.webhook.created')).toBe(true);
    expect(matchesFilters([{ service: 'ipm.webhook' }], 'ipm.webhook.created')).toBe(false);
  });

  it('an action: exactly that action (not a prefix of it, nor one it prefixes)', () => {
    const f: EventFilter[] = [{ service: 'rfp', action: 'status' }];
    expect(matchesFilters(f, 'rfp.status')).toBe(true);
    expect(matchesFilters(f, 'rfp.status_changed')).toBe(false);
    expect(matchesFilters(f, 'rfp.stat')).toBe(false);
    expect(matchesFilters(f, 'other.status')).toBe(false);
    expect(matchesFilters([{ service: 'ipm', action: 'webhook.created' }], 'ipm.webhook.created')).toBe(true);
    expect(matchesFilters([{ service: 'ipm', action: 'webhook' }], 'ipm.webhook.created')).toBe(false);
  });

  it('an action_prefix: actions starting with it, in that service only', () => {
    const f: EventFilter[] = [{ service: 'ipm', action_prefix: 'webhook.' }];
    expect(matchesFilters(f, 'ipm.webhook.created')).toBe(true);
    expect(matchesFilters(f, 'ipm.webhook.status_changed')).toBe(true);
    expect(matchesFilters(f, 'ipm.webhooks')).toBe(false);
    expect(matchesFilters(f, 'ipm.apikey.created')).toBe(false);
    expect(matchesFilters(f, 'rfp.webhook.created')).toBe(false);
    expect(matchesFilters([{ service: 'rfp', action_prefix: 'status_changed' }], 'rfp.status_changed')).toBe(true);
    expect(matchesFilters([{ service: 'rfp', action_prefix: 'bid' }], 'rfp.bid_received')).toBe(true);
  });

  it('several filters: any one matching is enough', () => {
    const f: EventFilter[] = [
      { service: 'rfp', action: 'created' },
      { service: 'ipm', action_prefix: 'webhook.' },
      { service: 'kpi' },
    ];
    expect(matchesFilters(f, 'rfp.created')).toBe(true);
    expect(matchesFilters(f, 'rfp.updated')).toBe(false);
    expect(matchesFilters(f, 'ipm.webhook.deleted')).toBe(true);
    expect(matchesFilters(f, 'ipm.apikey.revoked')).toBe(false);
    expect(matchesFilters(f, 'kpi.anything')).toBe(true);
  });

  it('action and action_prefix on one filter (not accepted by the API): both must hold', () => {
    const f: EventFilter[] = [{ service: 'rfp', action: 'bid_received', action_prefix: 'bid' }];
    expect(matchesFilters(f, 'rfp.bid_received')).toBe(true);
    expect(matchesFilters([{ service: 'rfp', action: 'created', action_prefix: 'bid' }], 'rfp.created')).toBe(false);
  });

  it('stored nulls (jsonb) mean "not set"', () => {
    const f = [{ service: 'rfp', action: null, action_prefix: null }] as unknown as EventFilter[];
    expect(matchesFilters(f, 'rfp.created')).toBe(true);
  });

  it.each(['rfp', 'rfp.', '.created', '', '.'])('with filters, a malformed type %j matches nothing', (t) => {
    expect(matchesFilters([{ service: 'rfp' }], t)).toBe(false);
    expect(matchesFilters([{ service: '' }], t)).toBe(false);
  });

  it('is pure: the filters are not changed', () => {
    const f: EventFilter[] = [{ service: 'rfp', action: 'created' }];
    const copy = JSON.stringify(f);
    matchesFilters(f, 'rfp.created');
    expect(JSON.stringify(f)).toBe(copy);
  });
});

describe('normalizeFilters', () => {
  it('keeps only the keys that are set, in a stable order', () => {
    const raw = [
      { action: 'created', service: 'rfp' },
      { service: 'ipm', action_prefix: 'webhook.', action: undefined },
      { service: 'kpi', action: null, action_prefix: null },
    ] as unknown as EventFilter[];
    expect(JSON.stringify(normalizeFilters(raw))).toBe(
      JSON.stringify([
        { service: 'rfp', action: 'created' },
        { service: 'ipm', action_prefix: 'webhook.' },
        { service: 'kpi' },
      ]),
    );
  });
});

describe('unknownFilterDetails', () => {
  const entry = (service: string, action: string): EventTypeEntry => ({
    event_type: `${service}.${action}`,
    service,
    action,
    version: 1,
    description: '',
    deprecated_at: null,
    schema: {},
    specimen: {},
    source: 'platform',
  });
  const catalog = [entry('rfp', 'created'), entry('rfp', 'status_changed'), entry('ipm', 'webhook.created')];

  it('accepts known services, known types, and any prefix of a known service', () => {
    expect(
      unknownFilterDetails(
        [
          { service: 'rfp' },
          { service: 'rfp', action: 'created' },
          { service: 'ipm', action: 'webhook.created' },
          { service: 'rfp', action_prefix: 'not_yet_' },
        ],
        catalog,
      ),
    ).toEqual([]);
  });

  it('names each unknown service or type by its position', () => {
    const details = unknownFilterDetails(
      [{ service: 'rfp' }, { service: 'nope' }, { service: 'rfp', action: 'exploded' }, { service: 'x', action: 'y' }],
      catalog,
    );
    expect(details).toEqual([
      { field: 'event_filters.1.service', message: 'unknown service nope' },
      { field: 'event_filters.2.action', message: 'unknown event type rfp.exploded' },
      { field: 'event_filters.3.service', message: 'unknown service x' },
    ]);
    const err = unknownFiltersError(details);
    expect(err.status).toBe(422);
    expect(err.code).toBe('unknown_event_type');
    expect(err.message).toContain('nope');
    expect(err.message).toContain('rfp.exploded');
  });
});
