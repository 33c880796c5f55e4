import { Registry } from 'prom-client';
import { BulkMetrics } from './bulk-metrics';

describe('BulkMetrics', () => {
  it('counts committed lines by type, target and result, in the registry it is registered in', async () => {
    const metrics = new BulkMetrics();
    const registry = new Registry();
    metrics.registerIn(registry);
    metrics.countLines({ job_type: 'import', target: 'events' }, 0, 2);
    metrics.countLines({ job_type: 'export', target: 'kpis' }, 5, 0);
    const text = await registry.metrics();
    expect(text).toContain('ipm_bulk_lines_total{type="import",target="events",result="failed"} 2');
    expect(text).toContain('ipm_bulk_lines_total{type="export",target="kpis",result="succeeded"} 5');
    expect(text).not.toContain('type="import",target="events",result="succeeded"');
  });
});
