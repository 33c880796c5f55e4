import type { ExecutionContext } from '@nestjs/common';
import { lastValueFrom, of, throwError } from 'rxjs';
import { IdempotencyInterceptor, storedIdempotencyKey } from './idempotency.interceptor';
import type { IdempotencyService } from './idempotency.service';

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

describe('IdempotencyInterceptor', () => {
  const claimedAt = new Date('2026-01-01T00:00:00.123Z');
  const calls: string[] = [];
  const store = {
    claim: () => Promise.resolve({ kind: 'claimed' as const, claimedAt, takenOver: false }),
    complete: (org: string, key: string, at: Date, status: number) => {
      calls.push(`complete ${org} ${key} ${at.toISOString()} ${status}`);
      return Promise.resolve(true);
    },
    release: (org: string, key: string, at: Date) => {
      calls.push(`release ${org} ${key} ${at.toISOString()}`);
      return Promise.resolve();
    },
  };
  const context = {
    switchToHttp: () => ({
      getRequest: () => ({
        headers: { 'idempotency-key': 'k-1' },
        method: 'POST',
        url: '/ipm/event/publish',
        body: {},
        caller: { orgcode: 'acme', actor_id: 'user_1' },
      }),
      getResponse: () => ({ statusCode: 200 }),
    }),
  } as unknown as ExecutionContext;
  const interceptor = new IdempotencyInterceptor(store as unknown as IdempotencyService);

  beforeEach(() => calls.splice(0));

  it('completes the key with its own claim (the fence against a retry that took it over)', async () => {
    const data = await lastValueFrom(interceptor.intercept(context, { handle: () => of({ ok: 1 }) }));
    expect(data).toEqual({ ok: 1 });
    expect(calls).toEqual([`complete acme k-1 ${claimedAt.toISOString()} 200`]);
  });

  it('releases the key with its own claim when the request fails, and rethrows', async () => {
    const boom = new Error('boom');
    await expect(lastValueFrom(interceptor.intercept(context, { handle: () => throwError(() => boom) }))).rejects.toBe(
      boom,
    );
    expect(calls).toEqual([`release acme k-1 ${claimedAt.toISOString()}`]);
  });
});
