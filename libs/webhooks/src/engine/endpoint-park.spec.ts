import { EndpointPark, PARK_SAFETY_DELAY_MS, ParkedDelivery, parkSafetyDelay } from './endpoint-park';

const parked = (delivery_id: string, webhook_id = 'whk_a'): ParkedDelivery => ({
  delivery_id,
  webhook_id,
  job: { name: 'delivery.send', id: delivery_id },
});

describe('EndpointPark', () => {
  it('keeps one first-in, first-out line per webhook', () => {
    const park = new EndpointPark({ perWebhook: 10, total: 100 });
    for (const id of ['d1', 'd2', 'd3']) expect(park.park(parked(id))).toBe(true);
    expect(park.park(parked('e1', 'whk_b'))).toBe(true);
    expect(park.size).toBe(4);
    expect(park.sizeOf('whk_a')).toBe(3);
    expect(park.take('whk_a')?.delivery_id).toBe('d1');
    expect(park.take('whk_b')?.delivery_id).toBe('e1');
    expect(park.take('whk_b')).toBeUndefined();
    expect(park.take('whk_a')?.delivery_id).toBe('d2');
    expect(park.take('whk_a')?.delivery_id).toBe('d3');
    expect(park.take('whk_a')).toBeUndefined();
    expect(park.size).toBe(0);
  });

  it('parks a delivery once: a job that comes back for it is told it is parked', () => {
    const park = new EndpointPark({ perWebhook: 10, total: 100 });
    expect(park.park(parked('d1'))).toBe(true);
    expect(park.park(parked('d1'))).toBe(true);
    expect(park.sizeOf('whk_a')).toBe(1);
    expect(park.has('d1')).toBe(true);
    park.take('whk_a');
    expect(park.has('d1')).toBe(false);
    expect(park.park(parked('d1'))).toBe(true);
  });

  it('refuses past its limits, per webhook and in all', () => {
    const park = new EndpointPark({ perWebhook: 2, total: 3 });
    expect(park.park(parked('d1'))).toBe(true);
    expect(park.park(parked('d2'))).toBe(true);
    expect(park.park(parked('d3'))).toBe(false);
    expect(park.park(parked('e1', 'whk_b'))).toBe(true);
    expect(park.park(parked('f1', 'whk_c'))).toBe(false);
    park.take('whk_a');
    expect(park.park(parked('f1', 'whk_c'))).toBe(true);
  });

  it('drains everything it holds', () => {
    const park = new EndpointPark({ perWebhook: 10, total: 100 });
    park.park(parked('d1'));
    park.park(parked('e1', 'whk_b'));
    expect(
      park
        .drain()
        .map((p) => p.delivery_id)
        .sort(),
    ).toEqual(['d1', 'e1']);
    expect(park.size).toBe(0);
    expect(park.take('whk_a')).toBeUndefined();
  });
});

describe('parkSafetyDelay', () => {
  const { base, perAhead, max } = PARK_SAFETY_DELAY_MS;
  const within = (ms: number, expected: number) => {
    expect(ms).toBeGreaterThanOrEqual(expected);
    expect(ms).toBeLessThanOrEqual(expected * 1.1);
  };

  it('grows with the deliveries ahead in line, up to its maximum; the unparked wait the maximum', () => {
    within(parkSafetyDelay(0), base);
    within(parkSafetyDelay(100), base + 100 * perAhead);
    within(parkSafetyDelay(1_000_000), max);
    within(parkSafetyDelay(null), max);
  });
});
