import { Injectable } from '@nestjs/common';
import { AppConfig } from './config/config.schema';
import { clampLimit, Cursor, PageScope, PageTokenCodec } from './pagination';

/** The app's page-token codec, keyed from SECRETS_KEY. */
@Injectable()
export class PageTokens {
  private readonly codec: PageTokenCodec;

  constructor(config: AppConfig) {
    this.codec = new PageTokenCodec(`page-token:${config.SECRETS_KEY.split(',')[0]}`);
  }

  /** The clamped limit and, if a token was given, its cursor (a 400 if forged or foreign). */
  read(request: { limit?: number; next_token?: string }, scope: PageScope): { limit: number; cursor?: Cursor } {
    return {
      limit: clampLimit(request.limit),
      cursor: request.next_token === undefined ? undefined : this.codec.decode(request.next_token, scope),
    };
  }

  write(scope: PageScope, next: Cursor | undefined): string | undefined {
    return next === undefined ? undefined : this.codec.encode(scope, next);
  }
}

/**
 * Keyset pagination over a list held in memory (catalog, lifecycle): items sorted by a unique
 * string key, the token carrying the last key served.
 */
export function pageInMemory<T>(
  pages: PageTokens,
  items: readonly T[],
  keyOf: (item: T) => string,
  request: { limit?: number; next_token?: string },
  scope: PageScope,
): { items: T[]; next_token?: string } {
  const { limit, cursor } = pages.read(request, scope);
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const after = typeof cursor?.[0] === 'string' ? cursor[0] : undefined;
  const rest = after === undefined ? sorted : sorted.filter((item) => keyOf(item) > after);
  const page = rest.slice(0, limit);
  const more = rest.length > limit;
  return { items: page, next_token: more ? pages.write(scope, [keyOf(page[page.length - 1])]) : undefined };
}
