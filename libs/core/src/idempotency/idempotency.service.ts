import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { LessThan, Repository } from 'typeorm';
import { AppConfig } from '../config/config.schema';
import { SecretBox } from '../crypto/secret-box';
import { AppError, ErrorCode } from '../errors';
import { stableStringify } from '../pagination';
import { IdempotencyRecordEntity } from './idempotency-record.entity';

export type IdempotencyClaim = { kind: 'claimed' } | { kind: 'replay'; status: number; body: unknown };

export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * The fingerprint of a request: the same key with another fingerprint is a 422. It covers the
 * actor too, so that nobody else in the tenant can replay someone's key to read their response
 * (which may hold a secret shown once).
 */
export function requestFingerprint(call: string, body: unknown, actor = ''): string {
  return createHash('sha256')
    .update(`${actor}\n${call}\n`)
    .update(stableStringify(body ?? null))
    .digest('hex');
}

/**
 * Idempotency-Key storage in PostgreSQL. The primary key (orgcode, key) makes the first
 * request's INSERT the only winner, so concurrent requests with one key create one record.
 */
@Injectable()
export class IdempotencyService {
  /** How long a second request waits for the first to finish before a 409. */
  static readonly WAIT_MS = 10_000;
  private static readonly POLL_MS = 50;

  constructor(
    @InjectRepository(IdempotencyRecordEntity) private readonly repo: Repository<IdempotencyRecordEntity>,
    private readonly config: AppConfig,
    private readonly box: SecretBox,
  ) {}

  async claim(orgcode: string, key: string, call: string, fingerprint: string): Promise<IdempotencyClaim> {
    const deadline = Date.now() + IdempotencyService.WAIT_MS;
    for (;;) {
      const now = new Date();
      const inserted = await this.repo
        .createQueryBuilder()
        .insert()
        .values({
          orgcode,
          idempotency_key: key,
          call,
          request_hash: fingerprint,
          state: 'in_progress',
          created_at: now,
          expires_at: new Date(now.getTime() + this.config.IDEMPOTENCY_TTL_HOURS * 3_600_000),
        })
        .orIgnore()
        .returning(['idempotency_key'])
        .execute();
      if ((inserted.raw as unknown[]).length) return { kind: 'claimed' };

      const existing = await this.repo.findOneBy({ orgcode, idempotency_key: key });
      if (!existing) continue; // released between our INSERT and SELECT: try again
      if (existing.expires_at <= now) {
        await this.repo.delete({ orgcode, idempotency_key: key, expires_at: LessThan(now) });
        continue;
      }
      if (existing.request_hash !== fingerprint || existing.call !== call) {
        throw AppError.unprocessable(
          'This Idempotency-Key was used with a different request; use a new key for a new request',
          [{ field: 'Idempotency-Key', message: 'reused with another request body' }],
          ErrorCode.IdempotencyMismatch,
        );
      }
      if (existing.state === 'completed') {
        const body: unknown = existing.response_sealed
          ? JSON.parse(this.box.openText(existing.response_sealed, `${orgcode}:${key}`))
          : null;
        return { kind: 'replay', status: existing.response_status ?? 200, body };
      }
      if (Date.now() >= deadline) {
        throw AppError.conflict(
          'A request with this Idempotency-Key is still in progress',
          ErrorCode.IdempotencyInProgress,
        );
      }
      await new Promise((r) => setTimeout(r, IdempotencyService.POLL_MS));
    }
  }

  async complete(orgcode: string, key: string, status: number, body: unknown): Promise<void> {
    await this.repo.update(
      { orgcode, idempotency_key: key },
      {
        state: 'completed',
        response_status: status,
        response_sealed: this.box.seal(JSON.stringify(body ?? null), `${orgcode}:${key}`),
      },
    );
  }

  /** The request failed: forget the key so that the client may retry with it. */
  async release(orgcode: string, key: string): Promise<void> {
    await this.repo.delete({ orgcode, idempotency_key: key, state: 'in_progress' });
  }

  /** Deletes expired keys; returns how many. */
  async purgeExpired(now: Date = new Date()): Promise<number> {
    const res = await this.repo.delete({ expires_at: LessThan(now) });
    return res.affected ?? 0;
  }
}
