import { DataSource } from 'typeorm';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

type Json = Record<string, unknown>;
interface ItemResult {
  index: number;
  event_id: string | null;
  event_type: string;
  status: string;
  error?: { code: string; message: string; details: Array<{ field: string; message: string; path?: string }> };
}
interface CdcItem {
  event_id: string;
  event_type: string;
  service: string;
  action: string;
  payload: Json;
  logical_guid: string | null;
  channel_code: string | null;
  app_id: string | null;
  source: string;
  occurred_at: string;
  received_at: string;
  sequence: string;
  position: string;
}

const rfpCreated = (rfpId: string): Json => ({
  rfp_id: rfpId,
  title: 'Fleet telematics, 400 vehicles',
  buyer: { org_id: 'ORG-17', name: 'Acme Logistics' },
  status: 'open',
});
const statusChanged = (rfpId: string, from = 'open', to = 'evaluating'): Json => ({ rfp_id: rfpId, from, to });

describe('/event/publish and /cdc/list', () => {
  let api: TestApi;
  let db: DataSource;

  beforeAll(async () => {
    api = await startApi();
    db = api.app.get(DataSource);
  });
  afterAll(() => api.close());

  /** A tenant and a publisher JWT for it. */
  async function tenant(label: string, permissions: string[] = ['publish_events'], appId?: string) {
    const org = uniqueOrg(label);
    const jwt = await token(api.config, {
      orgs: [org],
      permissions: permissions as never[],
      ...(appId ? { app_id: appId } : {}),
    });
    return { org, jwt };
  }
  const publish = (jwt: string, org: string, body: unknown) =>
    api
      .http()
      .post('/ipm/event/publish')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send(body as Json);
  const cdc = (jwt: string, org: string, body: Json = {}) =>
    api.http().post('/ipm/cdc/list').set(bearer(jwt)).set('x-orgcode', org).send(body);
  const cdcItems = async (jwt: string, org: string, body: Json = {}): Promise<CdcItem[]> => {
    const res = await cdc(jwt, org, { limit: 256, ...body }).expect(200);
    return res.body.data.items as CdcItem[];
  };
  const count = async (sql: string, params: unknown[]): Promise<number> =>
    Number((await db.query<Array<{ n: number }>>(sql, params))[0].n);

  it('stores a valid event and serves it in /cdc/list with every field', async () => {
    const { org, jwt } = await tenant('pub');
    const res = await publish(jwt, org, {
      events: [
        {
          event_type: 'rfp.created',
          payload: rfpCreated('RFP-1'),
          logical_guid: 'RFP-1',
          channel_code: 'pos_generic',
          occurred_at: '2026-01-02T03:04:05+02:00',
        },
      ],
      reason: 'nightly sync',
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      items: [
        {
          index: 0,
          event_id: expect.stringMatching(/^evt_[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
          event_type: 'rfp.created',
          status: 'stored',
        },
      ],
      stored: 1,
      duplicates: 0,
      rejected: 0,
    });
    const eventId = res.body.data.items[0].event_id as string;

    const items = await cdcItems(jwt, org);
    expect(items).toEqual([
      {
        event_id: eventId,
        event_type: 'rfp.created',
        service: 'rfp',
        action: 'created',
        payload: rfpCreated('RFP-1'),
        logical_guid: 'RFP-1',
        channel_code: 'pos_generic',
        app_id: null,
        source: 'api',
        occurred_at: '2026-01-02T01:04:05.000Z',
        received_at: expect.any(String),
        sequence: expect.stringMatching(/^\d+$/),
        position: expect.stringMatching(/^\d+\.\d+$/),
      },
    ]);
    expect(items[0].position.split('.')[1]).toBe(items[0].sequence);
    const received = Date.parse(items[0].received_at);
    expect(Math.abs(received - Date.now())).toBeLessThan(60_000);

    // occurred_at defaults to the time it was received
    const later = await publish(jwt, org, { events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'RFP-1' } }] });
    expect(later.status).toBe(200);
    const [, second] = await cdcItems(jwt, org);
    expect(second.occurred_at).toBe(second.received_at);
    expect(BigInt(second.sequence)).toBeGreaterThan(BigInt(items[0].sequence));

    // one audit row per call, with counts and never the payload
    const audit = await db.query<Array<{ actor_id: string; reason: string | null; metadata: Json }>>(
      "SELECT actor_id, reason, metadata FROM audit_log WHERE orgcode = $1 AND action = 'event.publish' ORDER BY audit_id",
      [org],
    );
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({
      actor_id: 'user_1',
      reason: 'nightly sync',
      metadata: { submitted: 1, stored: 1, duplicates: 0, rejected: 0, event_types: ['rfp.created'] },
    });
    expect(JSON.stringify(audit)).not.toContain('Acme Logistics');
  });

  it('an invalid payload is a 422 naming the item and the JSON path', async () => {
    const { org, jwt } = await tenant('bad');
    const payload = { rfp_id: 'RFP-2', title: 'x', buyer: { org_id: 'ORG-1' }, status: 'maybe' };
    const res = await publish(jwt, org, { events: [{ event_type: 'rfp.created', payload }] });
    expect(res.status).toBe(422);
    expect(res.body.success).toBe(false);
    expect(res.body.error.code).toBe('unprocessable');
    const details = res.body.error.details as Array<Json>;
    expect(details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          field: 'events.0.payload.buyer',
          path: '/buyer',
          message: "must have required property 'name'",
          index: 0,
          code: 'invalid_payload',
        }),
        expect.objectContaining({ field: 'events.0.payload.status', path: '/status', index: 0 }),
      ]),
    );
    expect(await count('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [org])).toBe(0);
    expect(await count('SELECT count(*)::int AS n FROM audit_log WHERE orgcode = $1', [org])).toBe(0);
  });

  it('an unknown type, a malformed type name and a platform type are 422s', async () => {
    const { org, jwt } = await tenant('unk');
    const unknown = await publish(jwt, org, { events: [{ event_type: 'rfp.exploded', payload: {} }] }).expect(422);
    expect(unknown.body.error.details).toEqual([
      expect.objectContaining({ field: 'events.0.event_type', code: 'unknown_event_type', index: 0 }),
    ]);
    expect(unknown.body.error.details[0].message).toContain('rfp.exploded');
    await publish(jwt, org, { events: [{ event_type: 'Not A Type', payload: {} }] }).expect(422);
    const reserved = await publish(jwt, org, {
      events: [
        { event_type: 'ipm.apikey.revoked', payload: { key_id: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', prefix: 'ipm_x' } },
      ],
    }).expect(422);
    expect(reserved.body.error.details).toEqual([
      expect.objectContaining({ field: 'events.0.event_type', code: 'reserved_event_type' }),
    ]);
    expect(await count('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [org])).toBe(0);
  });

  it('a mixed batch is a 200 with a status per item; the good items are stored', async () => {
    const { org, jwt } = await tenant('mix');
    const res = await publish(jwt, org, {
      events: [
        { event_type: 'rfp.created', payload: rfpCreated('RFP-A'), event_id: 'mix-a' },
        { event_type: 'rfp.created', payload: { rfp_id: 'RFP-B' }, event_id: 'mix-b' },
        { event_type: 'rfp.nope', payload: {} },
        { event_type: 'rfp.status_changed', payload: statusChanged('RFP-A'), event_id: 'mix-d' },
        { event_type: 'ipm.kpi.alert', payload: {} },
      ],
    }).expect(200);
    const items = res.body.data.items as ItemResult[];
    expect(items.map((i) => [i.index, i.status])).toEqual([
      [0, 'stored'],
      [1, 'rejected'],
      [2, 'rejected'],
      [3, 'stored'],
      [4, 'rejected'],
    ]);
    expect(res.body.data).toMatchObject({ stored: 2, duplicates: 0, rejected: 3 });
    expect(items[1]).toMatchObject({ event_id: 'mix-b', error: { code: 'invalid_payload' } });
    expect(items[1].error?.message).toContain("must have required property 'title'");
    expect(items[1].error?.details[0]).toMatchObject({ field: 'events.1.payload', path: '' });
    expect(items[2]).toMatchObject({ event_id: null, error: { code: 'unknown_event_type' } });
    expect(items[4].error?.code).toBe('reserved_event_type');
    expect(items[0].error).toBeUndefined();

    const stored = await cdcItems(jwt, org);
    expect(stored.map((e) => e.event_id)).toEqual(['mix-a', 'mix-d']);
  });

  it('a repeated event_id is not stored twice: in a later call and within one batch', async () => {
    const { org, jwt } = await tenant('dup');
    const first = await publish(jwt, org, {
      events: [{ event_type: 'rfp.created', payload: rfpCreated('RFP-D'), event_id: 'order:42' }],
    }).expect(200);
    expect(first.body.data.items[0].status).toBe('stored');

    const again = await publish(jwt, org, {
      events: [
        { event_type: 'rfp.created', payload: rfpCreated('RFP-D'), event_id: 'order:42' },
        { event_type: 'rfp.cancelled', payload: { rfp_id: 'RFP-D' }, event_id: 'order:43' },
        { event_type: 'rfp.cancelled', payload: { rfp_id: 'RFP-D', reason: 'again' }, event_id: 'order:43' },
      ],
    }).expect(200);
    expect((again.body.data.items as ItemResult[]).map((i) => [i.event_id, i.status])).toEqual([
      ['order:42', 'duplicate'],
      ['order:43', 'stored'],
      ['order:43', 'duplicate'],
    ]);
    expect(again.body.data).toMatchObject({ stored: 1, duplicates: 2, rejected: 0 });

    // only duplicates: still a 200 (the events are there), nothing new stored
    const onlyDup = await publish(jwt, org, {
      events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'RFP-D' }, event_id: 'order:43' }],
    }).expect(200);
    expect(onlyDup.body.data).toMatchObject({ stored: 0, duplicates: 1, rejected: 0 });

    const items = await cdcItems(jwt, org);
    expect(items.map((e) => e.event_id)).toEqual(['order:42', 'order:43']);
    expect(items[1].payload).toEqual({ rfp_id: 'RFP-D' }); // the first one wins

    // the same event_id in another tenant is another event
    const other = await tenant('dup2');
    const theirs = await publish(other.jwt, other.org, {
      events: [{ event_type: 'rfp.created', payload: rfpCreated('RFP-D'), event_id: 'order:42' }],
    }).expect(200);
    expect(theirs.body.data.items[0].status).toBe('stored');
  });

  it('concurrent batches with the same event_ids store each event once', async () => {
    const { org, jwt } = await tenant('race');
    const events = Array.from({ length: 20 }, (_, i) => ({
      event_type: 'rfp.cancelled',
      payload: { rfp_id: `R${i}` },
      event_id: `race-${i}`,
    }));
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, k) => publish(jwt, org, { events: k % 2 ? [...events].reverse() : events })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(results.reduce((n, r) => n + (r.body.data.stored as number), 0)).toBe(20);
    expect(await count('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [org])).toBe(20);
    expect(await count('SELECT count(*)::int AS n FROM event_outbox WHERE orgcode = $1', [org])).toBe(20);
  });

  it('takes 500 events in one batch and refuses 501 (400)', async () => {
    const { org, jwt } = await tenant('big');
    const events = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ event_type: 'rfp.cancelled', payload: { rfp_id: `R-${i}` } }));
    const res = await publish(jwt, org, { events: events(500) }).expect(200);
    expect(res.body.data).toMatchObject({ stored: 500, duplicates: 0, rejected: 0 });
    expect(await count('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [org])).toBe(500);
    // arrival order is the batch order
    const seqs = await db.query<Array<{ rfp: string }>>(
      'SELECT payload->>$2 AS rfp FROM events WHERE orgcode = $1 ORDER BY seq',
      [org, 'rfp_id'],
    );
    expect(seqs.map((r) => r.rfp)).toEqual(events(500).map((e) => e.payload.rfp_id));

    const tooMany = await publish(jwt, org, { events: events(501) }).expect(400);
    expect(tooMany.body.error.details).toEqual([expect.objectContaining({ field: 'events' })]);
    expect(await count('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [org])).toBe(500);
  });

  it('400s name the bad fields', async () => {
    const { org, jwt } = await tenant('val');
    const fields = async (body: unknown): Promise<string[]> => {
      const res = await publish(jwt, org, body).expect(400);
      expect(res.body.error.code).toBe('validation_failed');
      return [...new Set((res.body.error.details as Array<{ field: string }>).map((d) => d.field))];
    };
    expect(await fields({})).toContain('events');
    expect(await fields({ events: [] })).toContain('events');
    expect(await fields({ events: 'all of them' })).toContain('events');
    const ok = { event_type: 'rfp.cancelled', payload: { rfp_id: 'R' } };
    expect(await fields({ events: [ok, ok, ok, { event_type: 'rfp.cancelled' }] })).toEqual(['events.3.payload']);
    expect(await fields({ events: [{ ...ok, payload: [1, 2] }] })).toEqual(['events.0.payload']);
    expect(await fields({ events: [{ ...ok, payload: 'text' }] })).toEqual(['events.0.payload']);
    expect(await fields({ events: [{ ...ok, payload: null }] })).toEqual(['events.0.payload']);
    expect(await fields({ events: [{ payload: {} }] })).toEqual(['events.0.event_type']);
    expect(await fields({ events: [{ ...ok, event_id: 'has space' }] })).toEqual(['events.0.event_id']);
    expect(await fields({ events: [{ ...ok, event_id: 'x'.repeat(101) }] })).toEqual(['events.0.event_id']);
    expect(await fields({ events: [{ ...ok, occurred_at: 'yesterday' }] })).toEqual(['events.0.occurred_at']);
    expect(await fields({ events: [{ ...ok, occurred_at: '2026-01-01T10:00:00' }] })).toEqual(['events.0.occurred_at']);
    expect(await fields({ events: [{ ...ok, channel_code: 'a b' }] })).toEqual(['events.0.channel_code']);
    expect(await fields({ events: [{ ...ok, logical_guid: 'a\u0000b' }] })).toEqual(['events.0.logical_guid']);
    expect(await fields({ events: [{ ...ok, colour: 'red' }] })).toEqual(['events.0.colour']);
    expect(await fields({ events: [ok], extra: 1 })).toEqual(['extra']);
    expect(await fields({ events: [ok, 'not an event'] })).toContain('events.1');
    expect(await count('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [org])).toBe(0);
  });

  it('payloads PostgreSQL cannot store are rejected items, never 500s', async () => {
    const { org, jwt } = await tenant('pg');
    // superagent cannot serialise a 5,000-level object: send the JSON text itself
    const deep = `${'{"nested":'.repeat(400)}{"rfp_id":"R"}${'}'.repeat(400)}`; // past the payload limit (64), within the body limit (512)
    const events = [
      JSON.stringify({ event_type: 'rfp.cancelled', payload: { rfp_id: 'R', reason: 'nul \u0000 inside' } }),
      JSON.stringify({ event_type: 'rfp.cancelled', payload: { rfp_id: 'R', reason: 'lone \ud800 surrogate' } }),
      `{"event_type":"rfp.cancelled","payload":${deep}}`,
      JSON.stringify({ event_type: 'rfp.cancelled', payload: { rfp_id: 'R', reason: 'fine: \u{1F600}' } }),
    ];
    const res = await api
      .http()
      .post('/ipm/event/publish')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .set('content-type', 'application/json')
      .send(`{"events":[${events.join(',')}]}`);
    expect(res.body.error).toBeUndefined();
    expect(res.status).toBe(200);
    const items = res.body.data.items as ItemResult[];
    expect(items.map((i) => i.status)).toEqual(['rejected', 'rejected', 'rejected', 'stored']);
    expect(items[0].error?.details[0]).toMatchObject({ field: 'events.0.payload.reason', path: '/reason' });
    expect(items[2].error?.message).toContain('must not nest deeper than 64 levels');
    const [stored] = await cdcItems(jwt, org);
    expect(stored.payload).toEqual({ rfp_id: 'R', reason: 'fine: \u{1F600}' });
  });

  it('tenant event types can be published, deprecated ones too', async () => {
    const { org, jwt } = await tenant('own');
    const schema = {
      type: 'object',
      properties: { invoice_id: { type: 'string' }, amount: { type: 'number' } },
      required: ['invoice_id'],
    };
    const insertType = (eventType: string, deprecatedAt: Date | null) =>
      db.query(
        `INSERT INTO event_types (orgcode, event_type, service, action, version, description, schema, specimen,
           deprecated_at, created_at, created_by, updated_at, updated_by, revision)
         VALUES ($1, $2, 'billing', $3, 1, 'test', $4, $5, $6, now(), 'test', now(), 'test', 1)`,
        [
          org,
          eventType,
          eventType.split('.')[1],
          JSON.stringify(schema),
          JSON.stringify({ invoice_id: 'I' }),
          deprecatedAt,
        ],
      );
    await insertType('billing.invoice_paid', null);
    await insertType('billing.invoice_sent', new Date('2026-01-01T00:00:00Z'));
    const res = await publish(jwt, org, {
      events: [
        { event_type: 'billing.invoice_paid', payload: { invoice_id: 'I-1', amount: 12.5 } },
        { event_type: 'billing.invoice_sent', payload: { invoice_id: 'I-1' } },
        { event_type: 'billing.invoice_paid', payload: { amount: 1 } },
      ],
    }).expect(200);
    expect((res.body.data.items as ItemResult[]).map((i) => i.status)).toEqual(['stored', 'stored', 'rejected']);
    const items = await cdcItems(jwt, org, { service: 'billing' });
    expect(items.map((e) => [e.event_type, e.service, e.action])).toEqual([
      ['billing.invoice_paid', 'billing', 'invoice_paid'],
      ['billing.invoice_sent', 'billing', 'invoice_sent'],
    ]);
    // another tenant does not have these types
    const other = await tenant('own2');
    await publish(other.jwt, other.org, {
      events: [{ event_type: 'billing.invoice_paid', payload: { invoice_id: 'I-1' } }],
    }).expect(422);
  });

  it('API key create and revoke are ipm.apikey.* events in the feed, without the secret', async () => {
    const org = uniqueOrg('keys');
    const admin = await token(api.config, { orgs: [org], permissions: ['manage_api_keys', 'publish_events'] });
    const created = await api
      .http()
      .post('/ipm/apikey/create')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ name: 'erp', app_id: 'app_erp', permissions: ['publish_events'] })
      .expect(200);
    const { key, api_key } = created.body.data as { key: string; api_key: { key_id: string; prefix: string } };
    await api
      .http()
      .post('/ipm/apikey/revoke')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ key_id: api_key.key_id })
      .expect(200);
    // revoking twice changes nothing, so it is not an event
    await api
      .http()
      .post('/ipm/apikey/revoke')
      .set(bearer(admin))
      .set('x-orgcode', org)
      .send({ key_id: api_key.key_id })
      .expect(200);

    const items = await cdcItems(admin, org, { service: 'ipm' });
    expect(items).toEqual([
      expect.objectContaining({
        event_type: 'ipm.apikey.created',
        service: 'ipm',
        action: 'apikey.created',
        source: 'platform',
        logical_guid: api_key.key_id,
        event_id: expect.stringMatching(/^evt_/),
        payload: {
          key_id: api_key.key_id,
          name: 'erp',
          prefix: api_key.prefix,
          app_id: 'app_erp',
          permissions: ['publish_events'],
        },
      }),
      expect.objectContaining({
        event_type: 'ipm.apikey.revoked',
        source: 'platform',
        payload: { key_id: api_key.key_id, prefix: api_key.prefix },
      }),
    ]);
    const [{ key_hash: hash }] = await db.query<Array<{ key_hash: string }>>(
      'SELECT key_hash FROM api_keys WHERE key_id = $1',
      [api_key.key_id],
    );
    const raw = JSON.stringify(await db.query('SELECT * FROM events WHERE orgcode = $1', [org]));
    expect(raw).not.toContain(key);
    expect(raw).not.toContain(key.slice(12));
    expect(raw).not.toContain(hash);
    expect(await count('SELECT count(*)::int AS n FROM event_outbox WHERE orgcode = $1', [org])).toBe(2);
  });

  it("another tenant's events are never visible", async () => {
    const a = await tenant('ta');
    const b = await tenant('tb');
    await publish(a.jwt, a.org, {
      events: [{ event_type: 'rfp.created', payload: rfpCreated('SECRET-RFP'), logical_guid: 'SECRET-RFP' }],
    }).expect(200);
    expect(await cdcItems(b.jwt, b.org)).toEqual([]);
    expect(await cdcItems(b.jwt, b.org, { logical_guid: 'SECRET-RFP' })).toEqual([]);
    // a member of both sees each tenant's own feed
    const both = await token(api.config, { orgs: [a.org, b.org] });
    expect(await cdcItems(both, a.org)).toHaveLength(1);
    expect(await cdcItems(both, b.org)).toHaveLength(0);
    // B cannot read A's feed by naming A
    await cdc(b.jwt, a.org).expect(404);
    // a page token minted in A is refused in B
    await publish(a.jwt, a.org, { events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'SECRET-RFP' } }] });
    const page = await cdc(both, a.org, { limit: 1 }).expect(200);
    await cdc(both, b.org, { limit: 1, next_token: page.body.data.next_token as string }).expect(400);
  });

  it('an app_id caller sees only its own app’s events (and stamps them with its app)', async () => {
    const org = uniqueOrg('apps');
    const appA = await token(api.config, { orgs: [org], permissions: ['publish_events'], app_id: 'app_a' });
    const appB = await token(api.config, { orgs: [org], permissions: ['publish_events'], app_id: 'app_b' });
    const admin = await token(api.config, { orgs: [org], permissions: ['publish_events'] });
    await publish(appA, org, { events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'A' } }] }).expect(200);
    await publish(appB, org, { events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'B' } }] }).expect(200);
    await publish(admin, org, { events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'T' } }] }).expect(200);

    const seenByA = await cdcItems(appA, org);
    expect(seenByA.map((e) => [e.payload.rfp_id, e.app_id])).toEqual([['A', 'app_a']]);
    expect((await cdcItems(appB, org)).map((e) => e.payload.rfp_id)).toEqual(['B']);
    expect((await cdcItems(admin, org)).map((e) => [e.payload.rfp_id, e.app_id])).toEqual([
      ['A', 'app_a'],
      ['B', 'app_b'],
      ['T', null],
    ]);
    // an API key bound to an app is an app caller too
    const keyAdmin = await token(api.config, { orgs: [org], permissions: ['manage_api_keys', 'publish_events'] });
    const created = await api
      .http()
      .post('/ipm/apikey/create')
      .set(bearer(keyAdmin))
      .set('x-orgcode', org)
      .send({ name: 'a', app_id: 'app_a', permissions: ['publish_events'] })
      .expect(200);
    const viaKey = await api
      .http()
      .post('/ipm/cdc/list')
      .set('x-api-key', created.body.data.key as string)
      .set('x-orgcode', org)
      .send({ service: 'rfp' })
      .expect(200);
    expect((viaKey.body.data.items as CdcItem[]).map((e) => e.payload.rfp_id)).toEqual(['A']);
  });

  it('filters by service, event_type, logical_guid, channel_code and a received_at window; pages in order', async () => {
    const { org, jwt } = await tenant('cdc');
    await publish(jwt, org, {
      events: [
        { event_type: 'rfp.created', payload: rfpCreated('R1'), logical_guid: 'R1', channel_code: 'web' },
        { event_type: 'rfp.status_changed', payload: statusChanged('R1'), logical_guid: 'R1', channel_code: 'web' },
        { event_type: 'rfp.created', payload: rfpCreated('R2'), logical_guid: 'R2', channel_code: 'pos' },
      ],
    }).expect(200);
    const middle = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await publish(jwt, org, {
      events: [
        { event_type: 'rfp.cancelled', payload: { rfp_id: 'R2' }, logical_guid: 'R2' },
        { event_type: 'rfp.status_changed', payload: statusChanged('R1', 'evaluating', 'awarded'), logical_guid: 'R1' },
      ],
    }).expect(200);
    const ids = async (filters: Json) =>
      (await cdcItems(jwt, org, filters)).map((e) => `${e.event_type}:${e.logical_guid}`);

    expect(await ids({})).toEqual([
      'rfp.created:R1',
      'rfp.status_changed:R1',
      'rfp.created:R2',
      'rfp.cancelled:R2',
      'rfp.status_changed:R1',
    ]);
    expect(await ids({ event_type: 'rfp.status_changed' })).toEqual(['rfp.status_changed:R1', 'rfp.status_changed:R1']);
    expect(await ids({ logical_guid: 'R2' })).toEqual(['rfp.created:R2', 'rfp.cancelled:R2']);
    expect(await ids({ channel_code: 'web' })).toEqual(['rfp.created:R1', 'rfp.status_changed:R1']);
    expect(await ids({ service: 'rfp', logical_guid: 'R1', event_type: 'rfp.status_changed' })).toHaveLength(2);
    expect(await ids({ service: 'ipm' })).toEqual([]);
    expect(await ids({ after: middle })).toEqual(['rfp.cancelled:R2', 'rfp.status_changed:R1']);
    expect(await ids({ before: middle })).toHaveLength(3);
    expect(await ids({ after: middle, before: new Date(Date.now() + 60_000).toISOString() })).toHaveLength(2);
    expect(await ids({ before: '2000-01-01T00:00:00Z' })).toEqual([]);

    // pages of 2, in feed order (position: transaction id, then sequence), the token absent on the last page
    const seen: string[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const res = await cdc(jwt, org, next ? { limit: 2, next_token: next } : { limit: 2 }).expect(200);
      seen.push(...(res.body.data.items as CdcItem[]).map((e) => e.position));
      next = res.body.data.next_token as string | undefined;
      pages++;
    } while (next && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    const byPosition = (x: string, y: string): number => {
      const [xt, xs] = x.split('.').map(BigInt);
      const [yt, ys] = y.split('.').map(BigInt);
      return xt !== yt ? (xt < yt ? -1 : 1) : xs < ys ? -1 : xs > ys ? 1 : 0;
    };
    expect([...seen].sort(byPosition)).toEqual(seen);

    // default page size is 8; limit is clamped
    await publish(jwt, org, {
      events: Array.from({ length: 6 }, (_, i) => ({ event_type: 'rfp.cancelled', payload: { rfp_id: `X${i}` } })),
    }).expect(200);
    const first = await cdc(jwt, org).expect(200);
    expect(first.body.data.items).toHaveLength(8);
    expect(typeof first.body.data.next_token).toBe('string');
    expect((await cdc(jwt, org, { limit: 0 }).expect(200)).body.data.items).toHaveLength(1);
    expect((await cdc(jwt, org, { limit: 100000 }).expect(200)).body.data.items).toHaveLength(11);

    // a forged token, or one minted for other filters, is a 400 naming next_token
    const tok = first.body.data.next_token as string;
    const forged = `${tok.slice(0, -2)}${tok.endsWith('A') ? 'BB' : 'AA'}`;
    const bad = await cdc(jwt, org, { next_token: forged }).expect(400);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'next_token' })]);
    await cdc(jwt, org, { next_token: tok, service: 'rfp' }).expect(400);
    await cdc(jwt, org, { next_token: 'garbage' }).expect(400);
  });

  it('a caught-up consumer resumes with after_position (the last position it processed)', async () => {
    const { org, jwt } = await tenant('resume');
    const event = (n: number) => ({ event_type: 'rfp.cancelled', payload: { rfp_id: `R-${n}` } });
    await publish(jwt, org, { events: [event(1), event(2), event(3)] }).expect(200);
    const first = await cdc(jwt, org, { limit: 256 }).expect(200);
    expect(first.body.data.next_token).toBeUndefined(); // the last page: nothing to page on
    const seen = first.body.data.items as CdcItem[];
    expect(seen).toHaveLength(3);
    const last = (seen[2] as unknown as { position: string }).position;

    await publish(jwt, org, { events: [event(4), event(5)] }).expect(200);
    const resumed = await cdcItems(jwt, org, { after_position: last });
    expect(resumed.map((e) => (e.payload as { rfp_id: string }).rfp_id)).toEqual(['R-4', 'R-5']);
    // paging from a position works like paging from a token
    const paged = await cdc(jwt, org, { after_position: last, limit: 1 }).expect(200);
    expect(paged.body.data.items).toHaveLength(1);
    const rest = await cdc(jwt, org, { limit: 1, next_token: paged.body.data.next_token }).expect(200);
    expect((rest.body.data.items[0] as CdcItem).payload).toEqual({ rfp_id: 'R-5' });

    const bad = async (body: Json) => (await cdc(jwt, org, body).expect(400)).body.error.details[0].field as string;
    expect(await bad({ after_position: 'x.y' })).toBe('after_position');
    expect(await bad({ after_position: '99999999999999999999.1' })).toBe('after_position');
    expect(await bad({ after_position: last, next_token: paged.body.data.next_token })).toBe('after_position');
  });

  it('/cdc/list 400s name the bad filters', async () => {
    const { org, jwt } = await tenant('cval');
    const fields = async (body: Json): Promise<string[]> => [
      ...new Set(
        ((await cdc(jwt, org, body).expect(400)).body.error.details as Array<{ field: string }>).map((d) => d.field),
      ),
    ];
    expect(await fields({ service: 'Not Valid' })).toEqual(['service']);
    expect(await fields({ event_type: 'x'.repeat(201) })).toEqual(['event_type']);
    expect(await fields({ after: 'last week' })).toEqual(['after']);
    expect(await fields({ before: '2026-01-01T00:00:00' })).toEqual(['before']);
    expect(await fields({ channel_code: 'a/b' })).toEqual(['channel_code']);
    expect(await fields({ limit: 'ten' })).toEqual(['limit']);
    expect(await fields({ colour: 'red' })).toEqual(['colour']);
  });

  it('401 without credentials, 403 without publish_events, 404 for a foreign org — on both routes', async () => {
    const { org, jwt } = await tenant('authz', ['view_audit']);
    const body = { events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'R' } }] };
    await api.http().post('/ipm/event/publish').set('x-orgcode', org).send(body).expect(401);
    await api.http().post('/ipm/cdc/list').set('x-orgcode', org).send({}).expect(401);
    await api
      .http()
      .post('/ipm/cdc/list')
      .set('authorization', 'Bearer nope')
      .set('x-orgcode', org)
      .send({})
      .expect(401);

    const forbidden = await publish(jwt, org, body).expect(403);
    expect(forbidden.body.error.message).toContain('publish_events');
    // the feed needs tenant membership only
    await cdc(jwt, org).expect(200);

    const publisher = await tenant('authz2');
    const foreign = uniqueOrg('foreign');
    await publish(publisher.jwt, foreign, body).expect(404);
    await cdc(publisher.jwt, foreign).expect(404);
    expect(await count('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [foreign])).toBe(0);
  });

  it('Idempotency-Key: the same batch again returns the first response and stores nothing new', async () => {
    const { org, jwt } = await tenant('idem');
    const body = { events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'R' } }] };
    const send = () =>
      api
        .http()
        .post('/ipm/event/publish')
        .set(bearer(jwt))
        .set('x-orgcode', org)
        .set('Idempotency-Key', 'pub-1')
        .send(body);
    const first = await send().expect(200);
    const second = await send().expect(200);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.body.data).toEqual(first.body.data);
    expect(await count('SELECT count(*)::int AS n FROM events WHERE orgcode = $1', [org])).toBe(1);
  });

  it('every stored event has exactly one outbox row, written with it', async () => {
    const { org, jwt } = await tenant('outbox');
    await publish(jwt, org, {
      events: [
        { event_type: 'rfp.cancelled', payload: { rfp_id: 'A' }, event_id: 'o-1' },
        { event_type: 'rfp.cancelled', payload: { rfp_id: 'B' }, event_id: 'o-2' },
        { event_type: 'rfp.cancelled', payload: { rfp_id: 'B' }, event_id: 'o-2' },
        { event_type: 'rfp.cancelled', payload: {} },
      ],
    }).expect(200);
    await publish(jwt, org, { events: [{ event_type: 'rfp.cancelled', payload: { rfp_id: 'A' }, event_id: 'o-1' }] });
    const rows = await db.query<Array<{ event_id: string; n: number; pending: boolean; same_org: boolean }>>(
      `SELECT e.event_id, count(o.seq)::int AS n, bool_and(o.processed_at IS NULL) AS pending, bool_and(o.orgcode = e.orgcode) AS same_org
       FROM events e LEFT JOIN event_outbox o ON o.event_seq = e.seq WHERE e.orgcode = $1 GROUP BY e.event_id ORDER BY e.event_id`,
      [org],
    );
    expect(rows).toEqual([
      { event_id: 'o-1', n: 1, pending: true, same_org: true },
      { event_id: 'o-2', n: 1, pending: true, same_org: true },
    ]);
  });

  it('/docs-json documents both routes with their errors', async () => {
    const doc = (await api.http().get('/docs-json').expect(200)).body as {
      paths: Record<string, { post: { responses: Record<string, unknown>; requestBody?: unknown } }>;
    };
    const pub = doc.paths['/ipm/event/publish'].post;
    expect(Object.keys(pub.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404', '413', '422']),
    );
    expect(pub.requestBody).toBeDefined();
    expect(Object.keys(doc.paths['/ipm/cdc/list'].post.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '404']),
    );
  });
});
