import { EngineMetrics } from './engine-metrics';

describe('EngineMetrics.recordAttempts', () => {
  it('counts a batch by outcome and error kind, and observes attempted durations only', async () => {
    const metrics = new EngineMetrics();
    metrics.recordAttempts([
      { status: 'success', error_kind: null, attempted: true, duration_ms: 20 },
      { status: 'success', error_kind: null, attempted: true, duration_ms: 40 },
      { status: 'retrying', error_kind: 'timeout', attempted: true, duration_ms: 5000 },
      { status: 'dead_letter', error_kind: 'http_status', attempted: true, duration_ms: 30 },
      { status: 'failed', error_kind: null, attempted: false, duration_ms: 0 },
    ]);
    const deliveries = await metrics.deliveries.get();
    const byLabels = Object.fromEntries(
      deliveries.values.map((v) => [`${String(v.labels.outcome)}/${String(v.labels.error_kind)}`, v.value]),
    );
    expect(byLabels).toEqual({
      'success/none': 2,
      'retrying/timeout': 1,
      'dead_letter/http_status': 1,
      'failed/not_sent': 1,
    });
    const durations = await metrics.attemptDuration.get();
    const count = (outcome: string): number | undefined =>
      durations.values.find((v) => v.metricName?.endsWith('_count') && v.labels.outcome === outcome)?.value;
    expect(count('success')).toBe(2);
    expect(count('retrying')).toBe(1);
    expect(count('failed')).toBeUndefined();
    const sum = durations.values.find((v) => v.metricName?.endsWith('_sum') && v.labels.outcome === 'success');
    expect(sum?.value).toBeCloseTo(0.06);
  });

  it('exposes every engine series in its own registry', async () => {
    const metrics = new EngineMetrics();
    metrics.outboxEvents.inc(3);
    metrics.sweeperRequeued.inc({ job: 'delivery.send' });
    const text = await metrics.registry.metrics();
    expect(text).toContain('ipm_outbox_events_relayed_total 3');
    expect(text).toContain('ipm_sweeper_requeued_total{job="delivery.send"} 1');
  });
});
