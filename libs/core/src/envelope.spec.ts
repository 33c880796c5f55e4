import { callName, envelopeMeta, errorEnvelope, SERVICE_NAME, successEnvelope } from './envelope';

describe('callName', () => {
  it.each([
    ['POST', '/ipm/webhook/create', 'POST /webhook/create'],
    ['POST', '/ipm/webhook/create?x=1&y=2', 'POST /webhook/create'],
    ['get', '/ipm/stat', 'GET /stat'],
    ['GET', '/ipm', 'GET /'],
    ['GET', '/ipm?x=1', 'GET /'],
    ['GET', '/ipm/', 'GET /'],
    ['GET', '/health/live', 'GET /health/live'],
    ['GET', '/metrics?format=text', 'GET /metrics'],
    ['GET', '?only=query', 'GET /'],
  ])('%s %s -> %s', (method, url, expected) => {
    expect(callName(method, url)).toBe(expected);
  });

  it('strips only a leading /ipm segment, not a look-alike prefix', () => {
    expect(callName('POST', '/ipmx/webhook/create')).toBe('POST /ipmx/webhook/create');
    expect(callName('POST', '/api/ipm/webhook/create')).toBe('POST /api/ipm/webhook/create');
  });
});

describe('envelopeMeta', () => {
  it('carries the build id, the call name, the service and an ISO UTC timestamp', () => {
    const now = new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678));
    expect(envelopeMeta('build-42', 'post', '/ipm/webhook/list?limit=2', now)).toEqual({
      build: { build_id: 'build-42' },
      stats: { call: 'POST /webhook/list', service: 'ipm', timestamp_utc: '2025-01-02T03:04:05.678Z' },
    });
  });

  it('defaults the timestamp to now', () => {
    const before = Date.now();
    const meta = envelopeMeta('b', 'GET', '/ipm/stat');
    const after = Date.now();
    expect(meta.stats.timestamp_utc).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const t = Date.parse(meta.stats.timestamp_utc);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(after);
  });
});

describe('successEnvelope / errorEnvelope', () => {
  const now = new Date('2025-06-30T23:59:59.000Z');
  const meta = envelopeMeta('build-1', 'POST', '/ipm/webhook/create?dry=1', now);

  it('success has exactly success, data, build and stats', () => {
    const env = successEnvelope({ id: 'whk_1', nested: { a: [1, 2] } }, meta);
    expect(env).toStrictEqual({
      success: true,
      data: { id: 'whk_1', nested: { a: [1, 2] } },
      build: { build_id: 'build-1' },
      stats: { call: 'POST /webhook/create', service: SERVICE_NAME, timestamp_utc: '2025-06-30T23:59:59.000Z' },
    });
    expect(Object.keys(env).sort()).toEqual(['build', 'data', 'stats', 'success']);
    expect(Object.keys(env.stats).sort()).toEqual(['call', 'service', 'timestamp_utc']);
    expect(env.stats.service).toBe('ipm');
  });

  it('success keeps falsy data (null, 0, empty list) as data', () => {
    expect(successEnvelope(null, meta).data).toBeNull();
    expect(successEnvelope(0, meta).data).toBe(0);
    expect(successEnvelope([], meta).data).toEqual([]);
    expect('data' in successEnvelope(null, meta)).toBe(true);
  });

  it('error has exactly success=false, error, build and stats (no data)', () => {
    const env = errorEnvelope(
      { code: 'validation_failed', message: 'The request is invalid', details: [{ field: 'url', message: 'bad' }] },
      meta,
    );
    expect(env).toStrictEqual({
      success: false,
      error: {
        code: 'validation_failed',
        message: 'The request is invalid',
        details: [{ field: 'url', message: 'bad' }],
      },
      build: { build_id: 'build-1' },
      stats: { call: 'POST /webhook/create', service: 'ipm', timestamp_utc: '2025-06-30T23:59:59.000Z' },
    });
    expect(Object.keys(env).sort()).toEqual(['build', 'error', 'stats', 'success']);
    expect(env).not.toHaveProperty('data');
  });
});
