import { ApiMetrics } from './metrics';

describe('ApiMetrics', () => {
  it('times requests by method, route pattern and status, with bounded label values', async () => {
    const metrics = new ApiMetrics();
    metrics.observe('GET', '/ipm/webhooks/:webhook_id', 200, 12);
    metrics.observe('GET', '/ipm/webhooks/:webhook_id', 404, 3);
    metrics.observe('BREW', undefined, 404, 1);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'ipm_http_request_duration_seconds_count{method="GET",route="/ipm/webhooks/:webhook_id",status="200"} 1',
    );
    expect(text).toContain(
      'ipm_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/ipm/webhooks/:webhook_id",status="404"} 1',
    );
    expect(text).toContain('ipm_http_requests_total{method="OTHER",route="unmatched",status="404"} 1');
    expect(text).not.toContain('BREW');
  });
});
