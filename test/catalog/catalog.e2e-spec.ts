import { DataSource } from 'typeorm';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

const invoiceSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { invoice_id: { type: 'string' }, amount: { type: 'number', minimum: 0 } },
  required: ['invoice_id', 'amount'],
};

describe('catalog routes', () => {
  let api: TestApi;
  let reader: string;
  let manager: string;
  const org = uniqueOrg('cat');

  beforeAll(async () => {
    api = await startApi();
    reader = await token(api.config, { orgs: [org], permissions: [] });
    manager = await token(api.config, { sub: 'cat-admin', orgs: [org], permissions: ['manage_catalog', 'view_audit'] });
  });
  afterAll(() => api.close());

  const post = (path: string, body: Record<string, unknown>, auth = reader, orgcode = org) =>
    api.http().post(`/ipm${path}`).set(bearer(auth)).set('x-orgcode', orgcode).send(body);

  describe('/event/catalog/list', () => {
    it('lists platform types with schema_url, filtered by service, action and action_prefix', async () => {
      const rfp = await post('/event/catalog/list', { service: 'rfp', limit: 256 }).expect(200);
      const items = rfp.body.data.items as Array<Record<string, unknown>>;
      expect(items.map((i) => i.event_type)).toEqual([
        'rfp.awarded',
        'rfp.bid_received',
        'rfp.cancelled',
        'rfp.created',
        'rfp.status_changed',
        'rfp.updated',
      ]);
      expect(items[0]).toMatchObject({
        service: 'rfp',
        action: 'awarded',
        version: 1,
        source: 'platform',
        deprecated_at: null,
        schema_url: '/ipm/event/schema/rfp.awarded',
      });
      const prefixed = await post('/event/catalog/list', {
        service: 'ipm',
        action_prefix: 'webhook.',
        limit: 256,
      }).expect(200);
      expect(prefixed.body.data.items.every((i: { action: string }) => i.action.startsWith('webhook.'))).toBe(true);
      expect(prefixed.body.data.items.length).toBeGreaterThanOrEqual(5);
      const one = await post('/event/catalog/list', { action: 'status_changed' }).expect(200);
      expect(one.body.data.items.map((i: { event_type: string }) => i.event_type)).toEqual(['rfp.status_changed']);
    });

    it('pages with the default limit of 8 and an opaque token', async () => {
      const first = await post('/event/catalog/list', {}).expect(200);
      expect(first.body.data.items).toHaveLength(8);
      const second = await post('/event/catalog/list', { next_token: first.body.data.next_token }).expect(200);
      expect(second.body.data.items[0].event_type > first.body.data.items[7].event_type).toBe(true);
      await post('/event/catalog/list', { service: 'rfp', next_token: first.body.data.next_token }).expect(400);
    });

    it('400 on bad filters, 401, 404 for a foreign org', async () => {
      await post('/event/catalog/list', { service: 'Bad Service' }).expect(400);
      await post('/event/catalog/list', { unknown: 1 }).expect(400);
      await api.http().post('/ipm/event/catalog/list').set('x-orgcode', org).send({}).expect(401);
      await post('/event/catalog/list', {}, reader, uniqueOrg('x')).expect(404);
    });
  });

  describe('schema_url, /event/type/list, /specimen/get, /export/contract/list, /pagination/get', () => {
    it('serves the schema behind schema_url', async () => {
      const res = await api
        .http()
        .get('/ipm/event/schema/rfp.created')
        .set(bearer(reader))
        .set('x-orgcode', org)
        .expect(200);
      expect(res.body.data).toMatchObject({ event_type: 'rfp.created', version: 1, schema: { type: 'object' } });
      await api.http().get('/ipm/event/schema/rfp.nope').set(bearer(reader)).set('x-orgcode', org).expect(404);
      await api.http().get('/ipm/event/schema/NOT%20A%20TYPE').set(bearer(reader)).set('x-orgcode', org).expect(400);
      await api.http().get('/ipm/event/schema/rfp.created').set('x-orgcode', org).expect(401);
      await api
        .http()
        .get('/ipm/event/schema/rfp.created')
        .set(bearer(reader))
        .set('x-orgcode', uniqueOrg('y'))
        .expect(404);
    });

    it('lists subscribable event type strings', async () => {
      const res = await post('/event/type/list', { limit: 256 }).expect(200);
      expect(res.body.data.items).toEqual(expect.arrayContaining(['ipm.webhook.created', 'rfp.created']));
      expect(res.body.data.items.every((t: unknown) => typeof t === 'string')).toBe(true);
      await post('/event/type/list', { limit: 'x' }).expect(400);
    });

    it('returns specimens (404 if unknown, 400 if malformed)', async () => {
      const res = await post('/specimen/get', { name: 'rfp.created' }).expect(200);
      expect(res.body.data).toMatchObject({ name: 'rfp.created', version: 1, specimen: { rfp_id: 'RFP-2026-0042' } });
      expect(res.body.data.specimens['1']).toEqual(res.body.data.specimen);
      await post('/specimen/get', { name: 'rfp.unknown' }).expect(404);
      await post('/specimen/get', {}).expect(400);
      await post('/specimen/get', { name: 'no dots' }).expect(400);
      await post('/specimen/get', { name: 'rfp.created' }, reader, uniqueOrg('z')).expect(404);
    });

    it('lists one export contract per service', async () => {
      const res = await post('/export/contract/list', { limit: 256 }).expect(200);
      const contracts = res.body.data.contracts as Array<Record<string, unknown>>;
      expect(contracts.map((c) => c.service)).toEqual(expect.arrayContaining(['ipm', 'rfp']));
      const rfp = contracts.find((c) => c.service === 'rfp') as Record<string, unknown>;
      expect(rfp).toMatchObject({ stream: 'events', format: 'ndjson', version: '1' });
      expect(rfp.partitioning).toEqual(expect.arrayContaining([{ field: 'orgcode', kind: 'tenant' }]));
      expect(rfp.actions).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            action: 'created',
            event_type: 'rfp.created',
            schema_url: '/ipm/event/schema/rfp.created',
          }),
        ]),
      );
      const only = await post('/export/contract/list', { service: 'rfp' }).expect(200);
      expect(only.body.data.contracts).toHaveLength(1);
      await post('/export/contract/list', { service: 7 }).expect(400);
    });

    it('states the pagination conventions', async () => {
      const res = await post('/pagination/get', {}).expect(200);
      expect(res.body.data).toMatchObject({ default_limit: 8, min_limit: 1, max_limit: 256, token_name: 'next_token' });
      await api.http().post('/ipm/pagination/get').set('x-orgcode', org).send({}).expect(401);
    });
  });

  describe('/event/catalog/upsert', () => {
    const upsert = (body: Record<string, unknown>, auth = manager, orgcode = org) =>
      post('/event/catalog/upsert', body, auth, orgcode);

    it('adds a tenant type, visible to the tenant only; updating needs the revision', async () => {
      const created = await upsert({
        service: 'billing',
        action: 'invoice_paid',
        description: 'An invoice was paid',
        schema: invoiceSchema,
        specimen: { invoice_id: 'INV-1', amount: 12.5 },
        reason: 'new integration',
      }).expect(200);
      expect(created.body.data).toMatchObject({
        event_type: 'billing.invoice_paid',
        source: 'tenant',
        version: 1,
        revision: '1',
        schema_url: '/ipm/event/schema/billing.invoice_paid',
      });
      const listed = await post('/event/catalog/list', { service: 'billing' }).expect(200);
      expect(listed.body.data.items.map((i: { event_type: string }) => i.event_type)).toEqual(['billing.invoice_paid']);
      const spec = await post('/specimen/get', { name: 'billing.invoice_paid' }).expect(200);
      expect(spec.body.data.specimen).toEqual({ invoice_id: 'INV-1', amount: 12.5 });

      // another tenant does not see it
      const other = uniqueOrg('cat-other');
      const otherReader = await token(api.config, { orgs: [other], permissions: [] });
      await post('/specimen/get', { name: 'billing.invoice_paid' }, otherReader, other).expect(404);
      const otherList = await post('/event/catalog/list', { service: 'billing' }, otherReader, other).expect(200);
      expect(otherList.body.data.items).toEqual([]);

      // an update: 428 without the revision, 409 when stale, then a new version when the schema changes
      const change = {
        service: 'billing',
        action: 'invoice_paid',
        description: 'An invoice was paid in full',
        schema: { ...invoiceSchema, properties: { ...invoiceSchema.properties, currency: { type: 'string' } } },
        specimen: { invoice_id: 'INV-1', amount: 12.5, currency: 'EUR' },
      };
      await upsert(change).expect(428);
      await upsert({ ...change, expected_revision: '7' }).expect(409);
      const updated = await upsert({ ...change, expected_revision: '1' }).expect(200);
      expect(updated.body.data).toMatchObject({
        version: 2,
        revision: '2',
        description: 'An invoice was paid in full',
      });
      const deprecated = await upsert({
        ...change,
        expected_revision: '2',
        deprecated_at: '2030-01-01T00:00:00Z',
      }).expect(200);
      expect(deprecated.body.data).toMatchObject({
        version: 2,
        revision: '3',
        deprecated_at: '2030-01-01T00:00:00.000Z',
      });

      const audit = await post('/audit/list', { target_id: 'billing.invoice_paid' }, manager).expect(200);
      expect(audit.body.data.items.map((a: { action: string }) => a.action)).toEqual([
        'catalog.type_update',
        'catalog.type_update',
        'catalog.type_create',
      ]);
      expect(audit.body.data.items[2]).toMatchObject({ reason: 'new integration', actor_id: 'cat-admin' });

      // each change is a platform event in the tenant's change feed
      const feed = await post('/cdc/list', { event_type: 'ipm.catalog.type_upserted', limit: 256 }).expect(200);
      expect(feed.body.data.items.map((e: { payload: { revision: string } }) => e.payload.revision)).toEqual([
        '1',
        '2',
        '3',
      ]);
      expect(feed.body.data.items[0]).toMatchObject({
        source: 'platform',
        logical_guid: 'billing.invoice_paid',
        payload: { event_type: 'billing.invoice_paid', version: 1, deprecated_at: null },
      });
    });

    it('a deeply nested (but allowed) schema and specimen never cause a 500', async () => {
      let schema: Record<string, unknown> = { type: 'string' };
      let specimen: unknown = 'leaf';
      for (let i = 0; i < 250; i++) {
        schema = { type: 'object', properties: { n: schema }, required: ['n'] };
        specimen = { n: specimen };
      }
      const res = await upsert({ service: 'deep', action: 'nested', description: 'deep', schema, specimen });
      expect([200, 422]).toContain(res.status);
      expect(res.body.success).toBe(res.status === 200);
    });

    it('422 when the schema is not a JSON Schema, naming why', async () => {
      const res = await upsert({
        service: 'billing',
        action: 'bad_schema',
        description: 'x',
        schema: { type: 'objekt' },
        specimen: {},
      }).expect(422);
      expect(res.body.error.message).toMatch(/not a valid JSON Schema/);
      expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'schema' })]);
    });

    it('422 when the specimen does not validate, naming the path', async () => {
      const res = await upsert({
        service: 'billing',
        action: 'bad_specimen',
        description: 'x',
        schema: invoiceSchema,
        specimen: { invoice_id: 'INV-2', amount: -3 },
      }).expect(422);
      expect(res.body.error.message).toMatch(/\/amount must be >= 0/);
      expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'specimen.amount' })]);
      const rows = await api.app
        .get(DataSource)
        .query('SELECT count(*)::int AS n FROM event_types WHERE orgcode = $1 AND action = $2', [org, 'bad_specimen']);
      expect(rows[0].n).toBe(0);
    });

    it('422 for a platform service; 400 on bad shapes; 401; 403 without manage_catalog; 404 foreign org', async () => {
      const base = { action: 'x', description: 'x', schema: invoiceSchema, specimen: { invoice_id: 'a', amount: 1 } };
      await upsert({ ...base, service: 'rfp' }).expect(422);
      await upsert({ ...base, service: 'ipm' }).expect(422);
      const bad = await upsert({ service: 'Billing', action: '', description: 5, schema: 'no' }).expect(400);
      expect((bad.body.error.details as Array<{ field: string }>).map((d) => d.field)).toEqual(
        expect.arrayContaining(['service', 'action', 'description', 'schema', 'specimen']),
      );
      await api
        .http()
        .post('/ipm/event/catalog/upsert')
        .set('x-orgcode', org)
        .send({ ...base, service: 'billing' })
        .expect(401);
      await upsert({ ...base, service: 'billing' }, reader).expect(403);
      await upsert({ ...base, service: 'billing' }, manager, uniqueOrg('foreign')).expect(404);
    });
  });
});
