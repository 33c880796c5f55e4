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
