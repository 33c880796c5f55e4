import { startApi, TestApi } from './support/api';

describe('GET /ipm/stat', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('answers without credentials, in the envelope', async () => {
    const res = await api.http().get('/ipm/stat').expect(200);
    expect(res.body).toEqual({
      success: true,
      data: expect.objectContaining({ service: 'ipm', status: 'active', build_id: api.config.BUILD_ID }),
      build: { build_id: api.config.BUILD_ID },
      stats: { call: 'GET /stat', service: 'ipm', timestamp_utc: expect.stringMatching(/Z$/) },
    });
  });
});

describe('api health', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('GET /health/live answers without credentials', async () => {
    const res = await api.http().get('/health/live').expect(200);
    expect(res.body).toMatchObject({ success: true, data: { status: 'ok' }, stats: { call: 'GET /health/live' } });
  });

  it('GET /health/ready checks PostgreSQL and Redis', async () => {
    const res = await api.http().get('/health/ready').expect(200);
    expect(res.body.data).toMatchObject({
      status: 'ok',
      info: { postgres: { status: 'up' }, redis: { status: 'up' } },
    });
  });
});
