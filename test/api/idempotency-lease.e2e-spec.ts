import { DataSource } from 'typeorm';
import { IdempotencyService } from '@ipm/core';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

/**
 * A request that dies with the database can neither complete nor release its Idempotency-Key: the
 * key stays `in_progress`. Past IDEMPOTENCY_LEASE_SECONDS a retry takes it over and runs again;
 * within the lease a duplicate is still refused. The crash is simulated in the real database: a
 * stored key is put back in progress, as if its completion had been lost after the work committed.
 */
describe('Idempotency-Key lease: a key abandoned in progress', () => {
  let api: TestApi;
  let db: DataSource;
  let lease: number;

  beforeAll(async () => {
    api = await startApi();
    db = api.app.get(DataSource);
    lease = api.config.IDEMPOTENCY_LEASE_SECONDS;
  });
  afterAll(() => api.close());

  async function tenant(label: string): Promise<{ org: string; jwt: string }> {
    const org = uniqueOrg(label);
    return { org, jwt: await token(api.config, { orgs: [org], permissions: ['publish_events'] }) };
  }
  const publish = (jwt: string, org: string, key: string, eventId: string) =>
    api
      .http()
      .post('/ipm/event/publish')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .set('Idempotency-Key', key)
      .send({ events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'RFP-L' }, event_id: eventId }] });
  /** The key as a request that died after its work committed leaves it: in progress since `ageSeconds`. */
  const abandon = (org: string, key: string, ageSeconds: number) =>
    db.query(
      `UPDATE idempotency_keys SET state = 'in_progress', response_status = NULL, response_sealed = NULL,
              created_at = now() - make_interval(secs => $3)
        WHERE orgcode = $1 AND idempotency_key = $2`,
      [org, key, ageSeconds],
    );
  const events = async (org: string, eventId: string): Promise<number> =>
    Number(
      (
        await db.query<Array<{ n: number }>>(
          'SELECT count(*)::int AS n FROM events WHERE orgcode = $1 AND event_id = $2',
          [org, eventId],
        )
      )[0].n,
    );

  it('past the lease, a retry takes the key over and runs again: its event comes back duplicate, then replays', async () => {
    const { org, jwt } = await tenant('lease');
    const first = await publish(jwt, org, 'lease-1', 'lease:1').expect(200);
    expect(first.body.data.items[0].status).toBe('stored');
    await abandon(org, 'lease-1', lease + 5);

    const retry = await publish(jwt, org, 'lease-1', 'lease:1').expect(200);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.body.data).toMatchObject({ stored: 0, duplicates: 1, rejected: 0 });
    expect(retry.body.data.items[0]).toMatchObject({ event_id: 'lease:1', status: 'duplicate' });
    expect(await events(org, 'lease:1')).toBe(1);

    // the retry's response is the key's response now
    const again = await publish(jwt, org, 'lease-1', 'lease:1').expect(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.data).toEqual(retry.body.data);
    const [row] = await db.query<Array<{ state: string }>>(
      'SELECT state FROM idempotency_keys WHERE orgcode = $1 AND idempotency_key = $2',
      [org, 'lease-1'],
    );
    expect(row.state).toBe('completed');
  });

  it('within the lease, a duplicate is still refused with 409 (it waits for the first request first)', async () => {
    const { org, jwt } = await tenant('lease-in');
    await publish(jwt, org, 'lease-2', 'lease:2').expect(200);
    await abandon(org, 'lease-2', 5);
    const started = Date.now();
    const res = await publish(jwt, org, 'lease-2', 'lease:2').expect(409);
    expect(res.body.success).toBe(false);
    expect(res.body.error.code).toBe('idempotency_key_in_progress');
    expect(Date.now() - started).toBeGreaterThanOrEqual(IdempotencyService.WAIT_MS - 100);
    expect(await events(org, 'lease:2')).toBe(1);
  }, 30_000);

  describe('IdempotencyService against PostgreSQL', () => {
    let store: IdempotencyService;
    const call = 'POST /test/lease';
    const fingerprint = 'f'.repeat(64);
    beforeAll(() => {
      store = api.app.get(IdempotencyService);
    });

    it('of two retries racing for an abandoned key one takes it over; the other gets its response', async () => {
      const org = uniqueOrg('lease-race');
      const first = await store.claim(org, 'k', call, fingerprint);
      expect(first.kind).toBe('claimed');
      await abandon(org, 'k', lease + 1);

      const claims = [store.claim(org, 'k', call, fingerprint), store.claim(org, 'k', call, fingerprint)];
      const winner = await Promise.race(claims);
      if (winner.kind !== 'claimed') throw new Error(`expected a claim, got ${winner.kind}`);
      expect(winner.takenOver).toBe(true);
      expect(await store.complete(org, 'k', winner.claimedAt, 201, { n: 1 })).toBe(true);
      const both = await Promise.all(claims);
      expect(both.map((c) => c.kind).sort()).toEqual(['claimed', 'replay']);
      expect(both.find((c) => c.kind === 'replay')).toEqual({ kind: 'replay', status: 201, body: { n: 1 } });
    });

    it('the abandoned request, should it finish after all, can neither complete nor release the new claim', async () => {
      const org = uniqueOrg('lease-fence');
      const old = await store.claim(org, 'k', call, fingerprint);
      if (old.kind !== 'claimed') throw new Error('expected a claim');
      // its claim moved back past the lease (as if the request had hung that long); ms precision, as JS writes it
      const staleClaim = new Date(Date.now() - (lease + 1) * 1000);
      await db.query('UPDATE idempotency_keys SET created_at = $3 WHERE orgcode = $1 AND idempotency_key = $2', [
        org,
        'k',
        staleClaim,
      ]);

      const fresh = await store.claim(org, 'k', call, fingerprint);
      if (fresh.kind !== 'claimed') throw new Error('expected the key to be taken over');
      expect(fresh.takenOver).toBe(true);

      await store.release(org, 'k', staleClaim);
      expect(await store.complete(org, 'k', staleClaim, 200, { from: 'old' })).toBe(false);
      expect(await store.complete(org, 'k', fresh.claimedAt, 200, { from: 'new' })).toBe(true);
      expect(await store.claim(org, 'k', call, fingerprint)).toEqual({
        kind: 'replay',
        status: 200,
        body: { from: 'new' },
      });
    });
  });
});
