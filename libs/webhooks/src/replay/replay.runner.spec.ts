import { receives } from './replay.runner';

describe('receives (which stored events a replay re-delivers)', () => {
  it('follows the webhook’s filters', () => {
    const filtered = { event_filters: [{ service: 'rfp', action: 'created' }], app_id: null };
    expect(receives(filtered, { event_type: 'rfp.created', app_id: null })).toBe(true);
    expect(receives(filtered, { event_type: 'rfp.cancelled', app_id: null })).toBe(false);
    expect(receives({ event_filters: [], app_id: null }, { event_type: 'ipm.webhook.created', app_id: 'a' })).toBe(
      true,
    );
  });

  it('an app’s webhook receives only that app’s events', () => {
    const hook = { event_filters: [], app_id: 'app_a' };
    expect(receives(hook, { event_type: 'rfp.created', app_id: 'app_a' })).toBe(true);
    expect(receives(hook, { event_type: 'rfp.created', app_id: 'app_b' })).toBe(false);
    expect(receives(hook, { event_type: 'rfp.created', app_id: null })).toBe(false);
  });
});
