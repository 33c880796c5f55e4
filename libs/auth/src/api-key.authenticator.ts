import { Injectable, Logger } from '@nestjs/common';
import { AppError } from '@ipm/core';
import { ApiKeyRepository } from './api-key.repository';
import { apiKeyMatches, hashApiKey, looksLikeApiKey } from './api-key.secret';
import type { Permission } from './permissions';
import type { Principal } from './principal';

/** last_used_at is written at most this often per key, so a busy key does not mean a write per call. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Turns a presented API key into its principal. Read-only but for `last_used_at`: creating and
 * revoking keys is the apikeys feature's (libs/apikeys).
 */
@Injectable()
export class ApiKeyAuthenticator {
  private readonly logger = new Logger(ApiKeyAuthenticator.name);

  constructor(private readonly keys: ApiKeyRepository) {}

  /** The principal behind a presented key, or a 401 (unknown, revoked, expired). */
  async authenticate(presented: string): Promise<Principal> {
    if (!looksLikeApiKey(presented)) throw AppError.unauthorized('Invalid API key');
    // By hash alone: the key is what names its tenant.
    const key = await this.keys.findByHash(hashApiKey(presented));
    if (!key || !apiKeyMatches(presented, key.key_hash)) throw AppError.unauthorized('Invalid API key');
    if (key.revoked_at) throw AppError.unauthorized('API key revoked');
    if (key.expires_at && key.expires_at.getTime() <= Date.now()) throw AppError.unauthorized('API key expired');
    if (!key.last_used_at || Date.now() - key.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
      this.keys
        .touch(key, new Date())
        .catch((err: unknown) => this.logger.warn(`last_used_at update failed for ${key.key_id}: ${String(err)}`));
    }
    return {
      kind: 'api_key',
      actor_id: key.key_id,
      orgs: [key.orgcode],
      permissions: key.permissions as Permission[],
      app_id: key.app_id,
    };
  }
}
