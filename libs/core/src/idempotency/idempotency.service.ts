import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { LessThan, LessThanOrEqual } from 'typeorm';
import { AppConfig } from '../config/config.schema';
import { SecretBox } from '../crypto/secret-box';
import { AppError, ErrorCode } from '../errors';
import { stableStringify } from '../pagination';
import { IdempotencyKeysRepository } from './idempotency-keys.repository';

/**
 * `claimed`: this request runs; `claimedAt` is its claim's time, which fences its completion (a
 * request whose abandoned claim was taken over can no longer complete or release the key).
 */
export type IdempotencyClaim =
  { kind: 'claimed'; claimedAt: Date; takenOver: boolean } | { kind: 'replay'; status: number; body: unknown };

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
 *
 * A claim is a lease of IDEMPOTENCY_LEASE_SECONDS (`created_at` is the claim's time): a request
 * that dies with the database or the process can neither complete nor release its key, so a key
 * still in progress after the lease is abandoned and the next retry takes it over (a conditional
 * UPDATE, so that of two racing retries one wins) and runs the request again, as Stripe does. A
 * publish run again is harmless (events carry their event_id: the batch comes back `duplicate`);
 * another creating route may then create a second record, which the client can tell from the
 * ids. Within the lease, a duplicate waits for the first request, then gets a 409.
 */
@Injectable()
export class IdempotencyService {
  /** How long a second request waits for the first to finish before a 409. */
  static readonly WAIT_MS = 10_000;
  private static readonly POLL_MS = 50;
  private readonly logger = new Logger(IdempotencyService.name);

  constructor(
    private readonly repo: IdempotencyKeysRepository,
    private readonly config: AppConfig,
    private readonly box: SecretBox,
  ) {}

  async claim(orgcode: string, key: string, call: string, fingerprint: string): Promise<IdempotencyClaim> {
    const scope = { orgcode };
    const deadline = Date.now() + IdempotencyService.WAIT_MS;
    for (;;) {
      const now = new Date();
      const inserted = await this.repo.insertIfAbsent(scope, {
        idempotency_key: key,
        call,
        request_hash: fingerprint,
        state: 'in_progress',
        created_at: now,
        expires_at: this.expiry(now),
      });
      if (inserted) return { kind: 'claimed', claimedAt: now, takenOver: false };

      const existing = await this.repo.findOne(scope, key);
      if (!existing) continue; // released between our INSERT and SELECT: try again
      if (existing.expires_at <= now) {
        await this.repo.delete(scope, { idempotency_key: key, expires_at: LessThan(now) });
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
      const leaseStart = new Date(now.getTime() - this.config.IDEMPOTENCY_LEASE_SECONDS * 1000);
      if (existing.created_at <= leaseStart) {
        if (await this.takeOver(orgcode, key, leaseStart, now)) {
          this.logger.warn(
            `Idempotency-Key of ${orgcode} abandoned in progress since ${existing.created_at.toISOString()}: taken over, the request runs again`,
          );
          return { kind: 'claimed', claimedAt: now, takenOver: true };
        }
        continue; // another retry took it over (or it finished) meanwhile: look again
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

  /**
   * Stores the first response, if this request still holds the claim made at `claimedAt`; whether
   * it did (not: its lease ran out and a retry took the key over, whose response will be kept).
   */
  async complete(orgcode: string, key: string, claimedAt: Date, status: number, body: unknown): Promise<boolean> {
    const changed = await this.repo.update(
      { orgcode },
      { idempotency_key: key, state: 'in_progress', created_at: claimedAt },
      {
        state: 'completed',
        response_status: status,
        response_sealed: this.box.seal(JSON.stringify(body ?? null), `${orgcode}:${key}`),
      },
    );
    const kept = changed > 0;
    if (!kept) this.logger.warn(`Idempotency-Key of ${orgcode}: lease lost to a retry, this response is not kept`);
    return kept;
  }

  /** The request failed: forget the key (if this request still holds it) so that the client may retry with it. */
  async release(orgcode: string, key: string, claimedAt: Date): Promise<void> {
    await this.repo.delete({ orgcode }, { idempotency_key: key, state: 'in_progress', created_at: claimedAt });
  }

  /**
   * Takes over a claim made before `leaseStart` and still in progress: a conditional UPDATE, so of
   * two retries racing here one wins (PostgreSQL re-checks the other's condition against the
   * winner's row, whose claim is now fresh).
   */
  private async takeOver(orgcode: string, key: string, leaseStart: Date, now: Date): Promise<boolean> {
    const changed = await this.repo.update(
      { orgcode },
      { idempotency_key: key, state: 'in_progress', created_at: LessThanOrEqual(leaseStart) },
      { created_at: now, expires_at: this.expiry(now) },
    );
    return changed > 0;
  }

  private expiry(now: Date): Date {
    return new Date(now.getTime() + this.config.IDEMPOTENCY_TTL_HOURS * 3_600_000);
  }

  /** Deletes every tenant's expired keys (maintenance); returns how many. */
  purgeExpired(now: Date = new Date()): Promise<number> {
    return this.repo.purgeExpiredInEveryTenant(now);
  }
}
