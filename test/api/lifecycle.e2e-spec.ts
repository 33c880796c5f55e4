import { MACHINES } from '@ipm/lifecycle';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

describe('/lifecycle/list', () => {
  let api: TestApi;
  let jwt: string;
  const org = uniqueOrg('life');
  beforeAll(async () => {
    api = await startApi();
    jwt = await token(api.config, { orgs: [org], permissions: [] });
  });
  afterAll(() => api.close());

  const list = (body: Record<string, unknown>, auth = jwt, orgcode = org) =>
    api.http().post('/ipm/lifecycle/list').set(bearer(auth)).set('x-orgcode', orgcode).send(body);

  it('serves exactly the definitions the services use (tenant access is enough)', async () => {
    const res = await list({ limit: 256 }).expect(200);
    const expected = JSON.parse(JSON.stringify([...MACHINES].sort((a, b) => a.name.localeCompare(b.name))));
    expect(res.body.data.items).toEqual(expected);
    expect(res.body.data.version).toBe('bulk_job@1,delivery@1,kpi_alert@1,webhook@1');
  });

  it('filters by name and service, and pages', async () => {
    const one = await list({ name: 'delivery' }).expect(200);
    expect(one.body.data.items.map((m: { name: string }) => m.name)).toEqual(['delivery']);
    expect((await list({ service: 'nope' }).expect(200)).body.data.items).toEqual([]);
    const first = await list({ limit: 3 }).expect(200);
    expect(first.body.data.items).toHaveLength(3);
    const second = await list({ limit: 3, next_token: first.body.data.next_token }).expect(200);
    expect(second.body.data.items.map((m: { name: string }) => m.name)).toEqual(['webhook']);
    expect(second.body.data.next_token).toBeUndefined();
  });

  it('400 on bad filters, 401 without credentials, 404 for another org', async () => {
    await list({ name: 'DROP TABLE' }).expect(400);
    await list({ limit: 2, next_token: 'forged.token' }).expect(400);
    await api.http().post('/ipm/lifecycle/list').set('x-orgcode', org).send({}).expect(401);
    await list({}, jwt, uniqueOrg('else')).expect(404);
  });
});
