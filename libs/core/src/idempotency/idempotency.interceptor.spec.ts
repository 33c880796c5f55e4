import { storedIdempotencyKey } from './idempotency.interceptor';

describe('storedIdempotencyKey', () => {
  it("keeps a tenant principal's key as sent", () => {
    expect(storedIdempotencyKey('order-42', null)).toBe('order-42');
    expect(storedIdempotencyKey('order-42', undefined)).toBe('order-42');
  });

  it("gives each application a key space of its own, stable across retries and within the column's size", () => {
    const x = storedIdempotencyKey('order-42', 'app_x');
    expect(x).toBe(storedIdempotencyKey('order-42', 'app_x'));
    expect(x).not.toBe(storedIdempotencyKey('order-42', 'app_y'));
    expect(x).not.toBe('order-42');
    expect(storedIdempotencyKey('k'.repeat(255), 'app_x').length).toBeLessThanOrEqual(255);
  });
});
