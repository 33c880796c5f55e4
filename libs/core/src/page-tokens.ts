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
