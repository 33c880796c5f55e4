import { DataSource, EntityManager } from 'typeorm';
import type { Caller } from '@ipm/auth';
import { CatalogRegistry, EventTypesRepository } from '@ipm/catalog';
import { EventTypeEntity } from '@ipm/catalog';
import { loadConfig } from '@ipm/core';
import { dataSourceOptions } from '@ipm/persistence';
import { EventOutboxEntity } from '@ipm/events';
import { EventEntity } from '@ipm/events';
import { EventStore, NewEvent } from '@ipm/events';
import { PlatformEvents } from '@ipm/events';
import { newEventRow } from '../support/events';

/** The store against the run's migrated PostgreSQL: events and outbox rows commit or roll back together. */
describe('EventStore and PlatformEvents (PostgreSQL)', () => {
  let ds: DataSource;
  const store = new EventStore();
  let platform: PlatformEvents;
  let catalog: CatalogRegistry;
  const org = `store-${Date.now().toString(36)}`;
  const caller: Caller = {
    kind: 'user',
    actor_id: 'user_1',
    orgs: [org],
    orgcode: org,
    permissions: [],
    app_id: 'app_x',
  };
  const row = (event_id: string): NewEvent => newEventRow(event_id, org);
  const counts = async (): Promise<{ events: number; outbox: number }> => {
    const [r] = await ds.query<Array<{ events: number; outbox: number }>>(
      `SELECT (SELECT count(*)::int FROM events WHERE orgcode = $1) AS events,
              (SELECT count(*)::int FROM event_outbox WHERE orgcode = $1) AS outbox`,
      [org],
    );
    return r;
  };

  beforeAll(async () => {
    ds = new DataSource({
      ...dataSourceOptions(loadConfig(process.env), [EventEntity, EventOutboxEntity, EventTypeEntity]),
      poolSize: 2,
    });
    await ds.initialize();
    const config = loadConfig(process.env);
    catalog = new CatalogRegistry(new EventTypesRepository(ds), config);
    platform = new PlatformEvents(catalog, store);
  });
  afterAll(async () => {
    await catalog.onApplicationShutdown();
    await ds.destroy();
  });

  it('writes one outbox row per stored event, none for duplicates, in one statement', async () => {
    const first = await ds.transaction((em) => store.insert(em, [row('a'), row('b'), row('a')]));
    expect(first.outcomes.map((o) => o.status)).toEqual(['stored', 'stored', 'duplicate']);
    const second = await ds.transaction((em) => store.insert(em, [row('b'), row('c')]));
    expect(second).toMatchObject({ stored: 1, duplicates: 1 });
    expect(await counts()).toEqual({ events: 3, outbox: 3 });
    const linked = await ds.query<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM event_outbox o JOIN events e ON e.seq = o.event_seq
       WHERE o.orgcode = $1 AND o.processed_at IS NULL`,
      [org],
    );
    expect(linked[0].n).toBe(3);
  });

  it('stamps every row with its transaction’s 64-bit id (pg_current_xact_id), the CDC feed’s first sort key', async () => {
    const stamp = (em: EntityManager, ids: string[]) =>
      em.query<Array<{ tx_id: string; xact: string }>>(
        `SELECT tx_id::text AS tx_id, pg_current_xact_id()::text AS xact FROM events
         WHERE orgcode = $1 AND event_id = ANY($2) ORDER BY seq`,
        [org, ids],
      );
    const one = await ds.transaction(async (em) => {
      await store.insert(em, [row('tx-1')]);
      await store.insert(em, [row('tx-2'), row('tx-3')]);
      return stamp(em, ['tx-1', 'tx-2', 'tx-3']);
    });
    expect(one).toHaveLength(3);
    for (const r of one) expect(r).toEqual({ tx_id: one[0].xact, xact: one[0].xact });
    const two = await ds.transaction(async (em) => {
      await store.insert(em, [row('tx-4')]);
      return stamp(em, ['tx-4']);
    });
    expect(BigInt(two[0].tx_id)).toBeGreaterThan(BigInt(one[0].tx_id));
    expect(two[0].tx_id).toBe(two[0].xact);
  });

  it('rolls back events and outbox rows with the caller’s transaction', async () => {
    const before = await counts();
    await expect(
      ds.transaction(async (em) => {
        await store.insert(em, [row('r1'), row('r2')]);
        await platform.emit(em, caller, 'apikey.revoked', { key_id: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', prefix: 'p' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await counts()).toEqual(before);
  });

  it('emits a platform event with source platform, the caller’s app and actor', async () => {
    const eventId = await ds.transaction((em) =>
      platform.emit(
        em,
        caller,
        'apikey.revoked',
        { key_id: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', prefix: 'ipm_abc' },
        { logical_guid: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' },
      ),
    );
    expect(eventId).toMatch(/^evt_/);
    const [stored] = await ds.query<Array<Record<string, unknown>>>(
      'SELECT event_type, service, action, source, app_id, actor, logical_guid, occurred_at = received_at AS same_time FROM events WHERE event_id = $1',
      [eventId],
    );
    expect(stored).toEqual({
      event_type: 'ipm.apikey.revoked',
      service: 'ipm',
      action: 'apikey.revoked',
      source: 'platform',
      app_id: 'app_x',
      actor: 'user_1',
      logical_guid: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E',
      same_time: true,
    });
  });

  it('a platform payload that does not match its schema, or an unknown action, is a programming error', async () => {
    const before = await counts();
    await expect(
      ds.transaction((em) => platform.emit(em, caller, 'apikey.revoked', { key_id: 'nope', secret: 'x' })),
    ).rejects.toThrow(/ipm\.apikey\.revoked does not match its schema/);
    await expect(ds.transaction((em) => platform.emit(em, caller, 'made.up', {}))).rejects.toThrow(
      /not in the platform catalog/,
    );
    expect(await counts()).toEqual(before);
  });
});
