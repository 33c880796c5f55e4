import { DataSource } from 'typeorm';
import { loadConfig } from '@ipm/core';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { BuiltApi } from '../support/built-api';

// Issue 17, point 1: no tenant's schema or payload can hold the api's event loop. Costly schema features are refused
// at upsert with a 422 naming the schema path; patterns run on a linear-time engine; what still runs long is cut off
// at its deadline in the validation pool, without losing the batch's other events. No timing is asserted: a
// backtracking engine would take minutes on these inputs (the test would time out), and the cut-off is observed
// through its 422.
describe('tenant schemas: bounded validation cost', () => {
  let api: TestApi;
  let jwt: string;
  const org = uniqueOrg('cost');

  beforeAll(async () => {
    api = await startApi();
    jwt = await token(api.config, { orgs: [org], permissions: ['manage_catalog', 'publish_events'] });
  });
  afterAll(() => api.close());

  const post = (path: string, body: Record<string, unknown>, orgcode = org, auth = jwt) =>
    api.http().post(`/ipm${path}`).set(bearer(auth)).set('x-orgcode', orgcode).send(body);
  const upsert = (action: string, schema: unknown, specimen: unknown) =>
    post('/event/catalog/upsert', { service: 'hostile', action, description: action, schema, specimen });
  const stored = async (eventIds: string[]): Promise<number> => {
    const rows = await api.app
      .get(DataSource)
      .query('SELECT count(*)::int AS n FROM events WHERE orgcode = $1 AND event_id = ANY($2)', [org, eventIds]);
    return rows[0].n as number;
  };

  it.each([
    [
      'a backreference (needs backtracking)',
      { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)\\1$' } } },
      { s: 'aa' },
      '/properties/s/pattern',
      'pattern',
    ],
    [
      'uniqueItems over objects without maxItems',
      { type: 'object', properties: { list: { type: 'array', items: { type: 'object' }, uniqueItems: true } } },
      { list: [] },
      '/properties/list/uniqueItems',
      'uniqueItems',
    ],
    [
      'an enum of 5,000 values',
      { type: 'object', properties: { n: { enum: Array.from({ length: 5_000 }, (_, i) => i) } } },
      { n: 1 },
      '/properties/n/enum',
      'enum',
    ],
    [
      'multipleOf beyond float precision',
      { type: 'object', properties: { x: { type: 'number', multipleOf: 1e-12 } } },
      { x: 1 },
      '/properties/x/multipleOf',
      'multipleOf',
    ],
    [
      '$ref recursion through two branches',
      { type: 'object', properties: { c: { anyOf: [{ $ref: '#' }, { $ref: '#' }] } } },
      {},
      '/properties/c',
      '$ref',
    ],
  ])('refuses %s at upsert with a 422 naming the schema path', async (_, schema, specimen, path, keyword) => {
    const res = await upsert(`refused_${keyword.replace('$', '').toLowerCase()}`, schema, specimen);
    expect([res.status, res.body.error.code]).toEqual([422, 'schema_too_costly']);
    expect(res.body.error.code).toBe('schema_too_costly');
    expect(res.body.error.message).toContain(`(at ${path})`);
    expect(res.body.error.details).toContainEqual(
      expect.objectContaining({ field: `schema${path.replace(/\//g, '.')}`, schema_path: path, keyword }),
    );
    const types = await post('/event/type/list', { service: 'hostile', limit: 256 }).expect(200);
    expect(types.body.data.items).not.toContain(`hostile.refused_${keyword.replace('$', '').toLowerCase()}`);
  });

  it('runs patterns on a linear-time engine: ^(a+)+$ against 30 a and a ! is a plain mismatch', async () => {
    const schema = { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } }, required: ['s'] };
    await upsert('nested_quantifier', schema, { s: 'aaaa' }).expect(200);
    const evil = `${'a'.repeat(30)}!`;
    const res = await post('/event/publish', {
      events: [
        { event_type: 'hostile.nested_quantifier', event_id: `${org}-evil`, payload: { s: evil } },
        { event_type: 'hostile.nested_quantifier', event_id: `${org}-good`, payload: { s: 'aaa' } },
      ],
    }).expect(200);
    expect(res.body.data.items.map((i: { status: string }) => i.status)).toEqual(['rejected', 'stored']);
    expect(res.body.data.items[0].error).toMatchObject({
      code: 'invalid_payload',
      details: [expect.objectContaining({ field: 'events.0.payload.s', message: 'must match pattern "^(a+)+$"' })],
    });
  });

  it('cuts off a validation that outlives its deadline with a 422 item, and stores the batch’s other events', async () => {
    // Linear, but 900,000 characters take the engine several times the 50 ms deadline (~300 ms here).
    const schema = { type: 'object', properties: { s: { type: 'string', pattern: '^(?:a|b|ab|ba)*$' } } };
    await upsert('long_input', schema, { s: 'ab' }).expect(200);
    const ids = [`${org}-a`, `${org}-long`, `${org}-b`];
    const res = await post('/event/publish', {
      events: [
        { event_type: 'hostile.long_input', event_id: ids[0], payload: { s: 'abab' } },
        { event_type: 'hostile.long_input', event_id: ids[1], payload: { s: `${'ab'.repeat(450_000)}!` } },
        { event_type: 'hostile.long_input', event_id: ids[2], payload: { s: 'ba' } },
      ],
    }).expect(200);
    expect(res.body.data).toMatchObject({ stored: 2, rejected: 1 });
    expect(res.body.data.items[1]).toMatchObject({
      status: 'rejected',
      error: {
        code: 'validation_budget_exceeded',
        message: expect.stringMatching(/ran past its 50 ms deadline and was cut off/),
        details: [{ field: 'events.1.payload' }],
      },
    });
    expect(await stored(ids)).toBe(2);

    // Alone in its batch, the cut-off item makes the request a 422 with the item's code; the pool goes on.
    const alone = await post('/event/publish', {
      events: [{ event_type: 'hostile.long_input', payload: { s: `${'ab'.repeat(450_000)}!` } }],
    }).expect(422);
    expect(alone.body.error.details).toEqual([
      expect.objectContaining({ index: 0, code: 'validation_budget_exceeded', field: 'events.0.payload' }),
    ]);
    const after = await post('/event/publish', {
      events: [{ event_type: 'hostile.long_input', payload: { s: 'ab' } }],
    }).expect(200);
    expect(after.body.data.stored).toBe(1);
  });

  it('cuts off a specimen check that outlives its deadline: the type is not stored', async () => {
    const res = await upsert(
      'slow_specimen',
      { type: 'object', properties: { s: { type: 'string', pattern: '^(?:a|b|ab|ba)*$' } } },
      { s: `${'ab'.repeat(450_000)}!` },
    ).expect(422);
    expect(res.body.error).toMatchObject({
      code: 'schema_too_costly',
      message: expect.stringMatching(/ran past the 50 ms deadline/),
      details: [{ field: 'schema' }],
    });
    const types = await post('/event/type/list', { service: 'hostile', limit: 256 }).expect(200);
    expect(types.body.data.items).not.toContain('hostile.slow_specimen');
  });

  it('another tenant is served while one tenant’s validations are cut off', async () => {
    const other = uniqueOrg('cost-other');
    const otherJwt = await token(api.config, { orgs: [other], permissions: ['manage_catalog', 'publish_events'] });
    await post(
      '/event/catalog/upsert',
      { service: 'calm', action: 'ping', description: 'ping', schema: { type: 'object' }, specimen: {} },
      other,
      otherJwt,
    ).expect(200);
    const hostile = Array.from({ length: 2 }, () =>
      post('/event/publish', {
        events: Array.from({ length: 2 }, () => ({
          event_type: 'hostile.long_input',
          payload: { s: `${'ab'.repeat(100_000)}!` },
        })),
      }),
    );
    const calm = await post(
      '/event/publish',
      { events: [{ event_type: 'calm.ping', payload: { ok: true } }] },
      other,
      otherJwt,
    ).expect(200);
    expect(calm.body.data.stored).toBe(1);
    for (const res of await Promise.all(hostile)) expect([200, 422]).toContain(res.status);
  }, 60_000);
});

interface Answer {
  error?: { code: string };
  data?: { items: Array<{ status: string; error?: { code: string } }> };
}

// The bundle runs the thread from dist/apps/api/schema-validation.thread.js (webpack.config.js), not from source.
describe('tenant schemas: the built api', () => {
  let api: BuiltApi;
  const org = uniqueOrg('cost-built');

  beforeAll(async () => {
    api = await BuiltApi.start({ ...process.env, LOG_LEVEL: 'warn' });
  });
  afterAll(() => api?.kill());

  it('validates in its bundled thread: refuses at upsert, validates, cuts off', async () => {
    const jwt = await token(loadConfig(process.env), {
      orgs: [org],
      permissions: ['manage_catalog', 'publish_events'],
    });
    const post = (path: string, body: unknown) =>
      fetch(`${api.url}/ipm${path}`, {
        method: 'POST',
        headers: { ...bearer(jwt), 'x-orgcode': org, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as Answer }));
    const refused = await post('/event/catalog/upsert', {
      service: 'built',
      action: 'refused',
      description: 'x',
      schema: { type: 'object', properties: { s: { type: 'string', pattern: '(?<=a)b' } } },
      specimen: {},
    });
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'schema_too_costly']);
    const schema = { type: 'object', properties: { s: { type: 'string', pattern: '^(?:a|b|ab|ba)*$' } } };
    const ok = await post('/event/catalog/upsert', {
      service: 'built',
      action: 'ab',
      description: 'x',
      schema,
      specimen: {},
    });
    expect(ok.status).toBe(200);
    const res = await post('/event/publish', {
      events: [
        { event_type: 'built.ab', payload: { s: 'abba' } },
        { event_type: 'built.ab', payload: { s: 'abc' } },
        { event_type: 'built.ab', payload: { s: `${'ab'.repeat(450_000)}!` } },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.data?.items.map((i) => i.error?.code ?? i.status)).toEqual([
      'stored',
      'invalid_payload',
      'validation_budget_exceeded',
    ]);
  }, 60_000);
});
