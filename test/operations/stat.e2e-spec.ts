import { startApi, TestApi } from '../support/api';

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

describe('api metrics', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('GET /metrics is Prometheus text with requests by route pattern', async () => {
    await api.http().get('/ipm/stat').expect(200);
    await api.http().post('/ipm/nothing').send({}).expect(404);
    const res = await api.http().get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toContain('process_cpu_user_seconds_total');
    expect(res.text).toMatch(/ipm_http_requests_total\{method="GET",route="\/ipm\/stat",status="200"\} [1-9]/);
    expect(res.text).toMatch(/ipm_http_request_duration_seconds_bucket\{.*route="\/ipm\/stat"/);
  });
});
