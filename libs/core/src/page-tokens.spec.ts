import { loadConfig } from './config/config.schema';
import { AppError } from './errors';
import { PageTokens } from './page-tokens';
import { PageTokenCodec } from './pagination';

describe('PageTokens', () => {
  const scope = { orgcode: 'acme', resource: 'apikey.list', filters: { app_id: 'billing' } };
  const pages = new PageTokens(loadConfig({}));

  it('clamps the limit and has no cursor without a token', () => {
    expect(pages.read({}, scope)).toEqual({ limit: 8, cursor: undefined });
    expect(pages.read({ limit: 1000 }, scope)).toEqual({ limit: 256, cursor: undefined });
  });

  it('writes no token for the last page', () => {
    expect(pages.write(scope, undefined)).toBeUndefined();
  });

  it('reads back the cursor it wrote', () => {
    const token = pages.write(scope, ['2025-01-01T00:00:00.000Z', 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E']);
    expect(typeof token).toBe('string');
    expect(pages.read({ limit: 3, next_token: token }, scope)).toEqual({
      limit: 3,
      cursor: ['2025-01-01T00:00:00.000Z', 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E'],
    });
  });

  it('refuses a token minted under another SECRETS_KEY with a 400 naming next_token', () => {
    const other = new PageTokens(loadConfig({ SECRETS_KEY: `k9:${Buffer.alloc(32, 9).toString('base64')}` }));
    const token = other.write(scope, ['x']);
    let err: unknown;
    try {
      pages.read({ next_token: token }, scope);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status: 400, details: [expect.objectContaining({ field: 'next_token' })] });
  });

  it('keys tokens from the first (encrypting) secrets key only', () => {
    const first = `k2:${Buffer.alloc(32, 2).toString('base64')}`;
    const rotated = new PageTokens(
      loadConfig({ SECRETS_KEY: `${first},k1:${Buffer.alloc(32, 1).toString('base64')}` }),
    );
    const single = new PageTokens(loadConfig({ SECRETS_KEY: first }));
    expect(single.read({ next_token: rotated.write(scope, [1]) }, scope).cursor).toEqual([1]);
    // The key is derived from the secrets key, not the secrets key itself.
    expect(() => new PageTokenCodec(first).decode(rotated.write(scope, [1]) as string, scope)).toThrow(AppError);
  });

  it('refuses an empty next_token', () => {
    expect(() => pages.read({ next_token: '' }, scope)).toThrow(AppError);
  });
});
