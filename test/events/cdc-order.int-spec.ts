import { DataSource, QueryRunner } from 'typeorm';
import type { Caller } from '@ipm/auth';
import { loadConfig } from '@ipm/core';
import { PageTokens } from '@ipm/core';
import { dataSourceOptions } from '@ipm/persistence';
import { CdcService, EventsRepository } from '@ipm/events';
import type { CdcEventDto, CdcListRequestDto } from '@ipm/events';
import { EventOutboxEntity } from '@ipm/events';
import { EventEntity } from '@ipm/events';
import { EventStore, NewEvent } from '@ipm/events';
import { newEventRow } from '../support/events';

/**
 * The change feed against concurrent transactions on the run's PostgreSQL: a transaction that
 * inserts first but commits last must not leave a gap behind a reader's cursor. Each test holds
 * one transaction open (T1) on its own connection while others commit around it.
 */
describe('/cdc/list order under concurrent transactions (PostgreSQL)', () => {
  let ds: DataSource;
  let cdc: CdcService;
  const store = new EventStore();
  const open: QueryRunner[] = [];

  const tenant = (label: string): { org: string; caller: Caller } => {
    const org = `${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    return {
      org,
      caller: { kind: 'user', actor_id: 'user_1', orgs: [org], orgcode: org, permissions: [], app_id: null },
    };
  };
  const row = (org: string, event_id: string): NewEvent => newEventRow(event_id, org);
  /** A transaction of its own, committed. */
  const commit = (org: string, ...ids: string[]): Promise<unknown> =>
    ds.transaction((em) =>
      store.insert(
        em,
        ids.map((id) => row(org, id)),
      ),
    );
  /** T1: a transaction that has stored `ids` and stays open until the test ends it. */
  const begin = async (org: string, ...ids: string[]): Promise<QueryRunner> => {
    const qr = ds.createQueryRunner();
    open.push(qr);
    await qr.connect();
    await qr.startTransaction();
    if (ids.length)
      await store.insert(
        qr.manager,
        ids.map((id) => row(org, id)),
      );
    return qr;
  };
  const end = async (qr: QueryRunner, how: 'commit' | 'rollback'): Promise<void> => {
    await (how === 'commit' ? qr.commitTransaction() : qr.rollbackTransaction());
    await qr.release();
    open.splice(open.indexOf(qr), 1);
  };

  const page = (caller: Caller, request: Partial<CdcListRequestDto> = {}) =>
    cdc.list(caller, { limit: 100, ...request });
  const ids = (items: CdcEventDto[]): string[] => items.map((e) => e.event_id);
  /** The whole feed as one consumer reads it: pages of `limit`, following next_token. */
  const readAll = async (caller: Caller, limit: number): Promise<CdcEventDto[]> => {
    const all: CdcEventDto[] = [];
    let next_token: string | undefined;
    for (let pages = 0; pages < 50; pages++) {
      const p = await page(caller, next_token === undefined ? { limit } : { limit, next_token });
      all.push(...p.items);
      next_token = p.next_token;
      if (next_token === undefined) break;
    }
    return all;
  };
  /**
   * The feed waits for every older transaction on the server, including other test runs' (other
   * databases of this cluster): a committed event surfaces as soon as those end, so wait for it.
   */
  const eventually = async (caller: Caller, expected: string[]): Promise<CdcEventDto[]> => {
    const deadline = Date.now() + 10_000;
    let items = (await page(caller)).items;
    while (ids(items).length < expected.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      items = (await page(caller)).items;
    }
    expect(ids(items)).toEqual(expected);
    return items;
  };
  const position = (e: CdcEventDto): [bigint, bigint] => {
    const [tx, seq] = e.position.split('.').map(BigInt);
    return [tx, seq];
  };
  const expectIncreasingPositions = (items: CdcEventDto[]): void => {
    for (let i = 1; i < items.length; i++) {
      const [ptx, pseq] = position(items[i - 1]);
      const [tx, seq] = position(items[i]);
      expect(tx > ptx || (tx === ptx && seq > pseq)).toBe(true);
    }
  };
  /** What ordering by `seq` alone (the old feed) serves right now: T1's row is invisible, T2's are not. */
  const bySeq = async (org: string): Promise<string[]> =>
    (
      await ds.query<Array<{ event_id: string }>>('SELECT event_id FROM events WHERE orgcode = $1 ORDER BY seq', [org])
    ).map((r) => r.event_id);
  /** An event's seq, as `via` sees it (T1's own rows are visible only to T1). */
  const seqOf = async (org: string, eventId: string, via: DataSource | QueryRunner = ds): Promise<bigint> => {
    const [r] = await via.query<Array<{ seq: string }>>(
      'SELECT seq::text AS seq FROM events WHERE orgcode = $1 AND event_id = $2',
      [org, eventId],
    );
    return BigInt(r.seq);
  };

  beforeAll(async () => {
    const config = loadConfig(process.env);
    ds = new DataSource({ ...dataSourceOptions(config, [EventEntity, EventOutboxEntity]), poolSize: 4 });
    await ds.initialize();
    cdc = new CdcService(new EventsRepository(ds), new PageTokens(config));
  });
  afterEach(async () => {
    // A failed test must not leave T1 open: it would hold back every feed on the server.
    for (const qr of [...open]) await end(qr, 'rollback').catch(() => undefined);
  });
  afterAll(() => ds.destroy());

  it('T1 inserts first and commits last: the feed hides T2 until T1 ends, then serves T1 first, and a reader’s cursor has no gap', async () => {
    const { org, caller } = tenant('cdc-gap');
    await commit(org, 'e0');
    await commit(org, 'e1');
    await eventually(caller, ['e0', 'e1']);
    // a reader takes one page before T1 exists, and keeps its token
    const first = await page(caller, { limit: 1 });
    expect(ids(first.items)).toEqual(['e0']);
    expect(first.next_token).toEqual(expect.any(String));

    const t1 = await begin(org, 't1-a'); // draws its seq (and its transaction id) first
    await commit(org, 't2-a', 't2-b'); // T2: later seqs, committed first
    expect(await seqOf(org, 't2-a')).toBeGreaterThan(await seqOf(org, 't1-a', t1));
    // The gap, as seq order serves it: t2-a and t2-b are visible past t1-a's seq, t1-a is not; a reader
    // whose cursor passed t2-b would never go back for t1-a.
    expect(await bySeq(org)).toEqual(['e0', 'e1', 't2-a', 't2-b']);

    // The feed while T1 is open: nothing of T2, however it is read.
    expect(ids((await page(caller)).items)).toEqual(['e0', 'e1']);
    expect(ids(await readAll(caller, 1))).toEqual(['e0', 'e1']);
    const meanwhile = await page(caller, { limit: 100, next_token: first.next_token });
    expect(ids(meanwhile.items)).toEqual(['e1']);
    expect(meanwhile.next_token).toBeUndefined();

    await end(t1, 'commit');
    // Both surface, T1's first (it is the older transaction), in every read of the feed.
    const after = await eventually(caller, ['e0', 'e1', 't1-a', 't2-a', 't2-b']);
    expectIncreasingPositions(after);
    expect(ids(await readAll(caller, 2))).toEqual(['e0', 'e1', 't1-a', 't2-a', 't2-b']);
    // The reader that paged before T1 committed continues with its token: no gap.
    const resumed = await page(caller, { limit: 100, next_token: first.next_token });
    expect(ids(resumed.items)).toEqual(['e1', 't1-a', 't2-a', 't2-b']);
    // T2's two events share a transaction id; each position ends in its sequence.
    const [, , a, b, c] = after;
    expect(position(b)[0]).toBe(position(c)[0]);
    expect(position(a)[0]).toBeLessThan(position(b)[0]);
    for (const e of after) expect(e.position).toBe(`${position(e)[0]}.${e.sequence}`);
  });

  it('orders by transaction, not by sequence: T1 that took its id first but inserts after T2 still comes first', async () => {
    const { org, caller } = tenant('cdc-tx');
    const t1 = await begin(org); // no row yet
    await t1.query('SELECT txid_current()'); // ...but its transaction id is drawn now
    await commit(org, 't2-a');
    await store.insert(t1.manager, [row(org, 't1-a')]); // seq after t2-a's
    expect(await seqOf(org, 't2-a')).toBeLessThan(await seqOf(org, 't1-a', t1));
    expect(ids((await page(caller)).items)).toEqual([]);
    await end(t1, 'commit');
    const items = await eventually(caller, ['t1-a', 't2-a']);
    expectIncreasingPositions(items);
    expect(BigInt(items[0].sequence)).toBeGreaterThan(BigInt(items[1].sequence));
  });

  it('a T1 that rolls back holds the feed while open, then leaves nothing behind', async () => {
    const { org, caller } = tenant('cdc-rb');
    const t1 = await begin(org, 't1-a');
    await commit(org, 't2-a');
    expect(ids((await page(caller)).items)).toEqual([]);
    await end(t1, 'rollback');
    await eventually(caller, ['t2-a']);
  });

  it('filtered feeds obey the same horizon', async () => {
    const { org, caller } = tenant('cdc-filter');
    const t1 = await begin(org, 't1-a');
    await commit(org, 't2-a');
    for (const filter of [{ service: 'rfp' }, { event_type: 'rfp.cancelled' }, { after: '2000-01-01T00:00:00Z' }]) {
      expect(ids((await page(caller, filter)).items)).toEqual([]);
    }
    await end(t1, 'commit');
    await eventually(caller, ['t1-a', 't2-a']);
    expect(ids((await page(caller, { event_type: 'rfp.cancelled' })).items)).toEqual(['t1-a', 't2-a']);
  });
});
