import { AppError } from '@ipm/core';
import { childKeyExpiry } from './api-keys.service';

describe('childKeyExpiry', () => {
  const hour = new Date('2026-01-01T01:00:00.000Z');
  const later = new Date('2026-01-01T02:00:00.000Z');
  const sooner = new Date('2026-01-01T00:30:00.000Z');

  it('leaves the request alone when the creator never expires', () => {
    expect(childKeyExpiry(null, null)).toBeNull();
    expect(childKeyExpiry(later, null)).toBe(later);
  });

  it('gives a key asked for without expiry its creator’s', () => {
    expect(childKeyExpiry(null, hour)).toBe(hour);
  });

  it('keeps an expiry at or before the creator’s', () => {
    expect(childKeyExpiry(sooner, hour)).toBe(sooner);
    expect(childKeyExpiry(new Date(hour), hour)).toEqual(hour);
  });

  it('refuses a later one with a 422 naming expires_at, never shortening it', () => {
    const error = (() => {
      try {
        childKeyExpiry(later, hour);
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({
      status: 422,
      code: 'unprocessable',
      details: [{ field: 'expires_at', message: expect.stringContaining('2026-01-01T01:00:00.000Z') as string }],
    });
  });
});
