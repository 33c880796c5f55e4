import { EngineMetrics } from './engine-metrics';

describe('EngineMetrics', () => {
  it('exposes the bulk series in its own registry', async () => {
    const metrics = new EngineMetrics();
    metrics.bulkLines.inc({ type: 'import', target: 'events', result: 'failed' }, 2);
    const text = await metrics.registry.metrics();
    expect(text).toContain('ipm_bulk_lines_total{type="import",target="events",result="failed"} 2');
  });
});
