import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, IsNull, Repository } from 'typeorm';
import { AppError, IdPrefix, newId, Page, PageTokens } from '@ipm/core';
import { AuditService } from '@ipm/audit/audit.service';
import { PlatformEvents } from '@ipm/events/platform-events.service';
import { fetchKeysetPage } from '@ipm/persistence';
import type { Permission } from '../permissions';
import type { Caller, Principal } from '../principal';
import { ApiKeyEntity } from './api-key.entity';
import { apiKeyMatches, generateApiKey, hashApiKey, looksLikeApiKey, visiblePrefix } from './api-key.secret';
import {
  ApiKeyCreatedDto,
  ApiKeyCreateRequestDto,
  ApiKeyDto,
  ApiKeyListRequestDto,
  ApiKeyRevokeRequestDto,
} from './api-key.dto';

/** last_used_at is written at most this often per key, so a busy key does not mean a write per call. */
const LAST_USED_RESOLUTION_MS = 60_000;

@Injectable()
export class ApiKeysService {
  private readonly logger = new Logger(ApiKeysService.name);

  constructor(
    @InjectRepository(ApiKeyEntity) private readonly repo: Repository<ApiKeyEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly pages: PageTokens,
    private readonly events: PlatformEvents,
  ) {}

  async create(caller: Caller, request: ApiKeyCreateRequestDto): Promise<ApiKeyCreatedDto> {
    // No escalation: a key never gets a permission its creator lacks, nor another app.
    const missing = request.permissions.filter((p) => !caller.permissions.includes(p));
    if (missing.length) throw AppError.forbidden(`You cannot grant permissions you lack: ${missing.join(', ')}`);
    if (caller.app_id && request.app_id && request.app_id !== caller.app_id) {
      throw AppError.forbidden('An application principal can only create keys for its own app_id');
    }
    const expiresAt = request.expires_at ? new Date(request.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw AppError.badRequest('expires_at must be in the future', 'expires_at');
    }
    const key = generateApiKey();
    const entity: ApiKeyEntity = {
      key_id: newId(IdPrefix.ApiKey),
      orgcode: caller.orgcode,
      app_id: request.app_id ?? caller.app_id,
      name: request.name,
      prefix: visiblePrefix(key),
      key_hash: hashApiKey(key),
      permissions: [...request.permissions],
      created_at: new Date(),
      created_by: caller.actor_id,
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
      revoked_by: null,
    };
    await this.dataSource.transaction(async (em) => {
      await em.insert(ApiKeyEntity, entity);
      await this.audit.record(em, caller, request, {
        action: 'apikey.create',
        target_type: 'api_key',
        target_id: entity.key_id,
        metadata: { name: entity.name, app_id: entity.app_id, permissions: entity.permissions, prefix: entity.prefix },
      });
      // Never the key nor its hash: the change feed is readable by every member of the tenant.
      await this.events.emit(
        em,
        caller,
        'apikey.created',
        {
          key_id: entity.key_id,
          name: entity.name,
          prefix: entity.prefix,
          app_id: entity.app_id,
          permissions: entity.permissions,
        },
        { logical_guid: entity.key_id },
      );
    });
    return { api_key: toApiKeyDto(entity), key };
  }

  async list(caller: Caller, request: ApiKeyListRequestDto): Promise<Page<ApiKeyDto>> {
    const filters = { app_id: request.app_id, include_revoked: request.include_revoked ?? false, app: caller.app_id };
    const scope = { orgcode: caller.orgcode, resource: 'apikey.list', filters };
    const { limit, cursor } = this.pages.read(request, scope);
    const qb = this.repo.createQueryBuilder('k').where('k.orgcode = :orgcode', { orgcode: caller.orgcode });
    const appId = caller.app_id ?? request.app_id;
    if (caller.app_id && request.app_id && request.app_id !== caller.app_id) return { items: [] };
    if (appId) qb.andWhere('k.app_id = :app_id', { app_id: appId });
    if (!filters.include_revoked) qb.andWhere('k.revoked_at IS NULL');
    const { rows, next } = await fetchKeysetPage(
      qb,
      { columns: ['k.key_id'], direction: 'DESC', cursorOf: (r) => [r.key_id] },
      cursor,
      limit,
    );
    return { items: rows.map(toApiKeyDto), next_token: this.pages.write(scope, next) };
  }

  async revoke(caller: Caller, request: ApiKeyRevokeRequestDto): Promise<ApiKeyDto> {
    return this.dataSource.transaction(async (em) => {
      const key = await em.findOne(ApiKeyEntity, {
        where: { key_id: request.key_id, orgcode: caller.orgcode, ...(caller.app_id ? { app_id: caller.app_id } : {}) },
        lock: { mode: 'pessimistic_write' },
      });
      if (!key) throw AppError.notFound('API key');
      if (key.revoked_at) return toApiKeyDto(key); // revoking twice is a no-op, not an error
      key.revoked_at = new Date();
      key.revoked_by = caller.actor_id;
      await em.update(ApiKeyEntity, { key_id: key.key_id }, { revoked_at: key.revoked_at, revoked_by: key.revoked_by });
      await this.audit.record(em, caller, request, {
        action: 'apikey.revoke',
        target_type: 'api_key',
        target_id: key.key_id,
        metadata: { prefix: key.prefix },
      });
      await this.events.emit(
        em,
        caller,
        'apikey.revoked',
        { key_id: key.key_id, prefix: key.prefix },
        { logical_guid: key.key_id },
      );
      return toApiKeyDto(key);
    });
  }

  /** The principal behind a presented key, or a 401 (unknown, revoked, expired). */
  async authenticate(presented: string): Promise<Principal> {
    if (!looksLikeApiKey(presented)) throw AppError.unauthorized('Invalid API key');
    const key = await this.repo.findOneBy({ key_hash: hashApiKey(presented) });
    if (!key || !apiKeyMatches(presented, key.key_hash)) throw AppError.unauthorized('Invalid API key');
    if (key.revoked_at) throw AppError.unauthorized('API key revoked');
    if (key.expires_at && key.expires_at.getTime() <= Date.now()) throw AppError.unauthorized('API key expired');
    if (!key.last_used_at || Date.now() - key.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
      this.repo
        .update({ key_id: key.key_id, revoked_at: IsNull() }, { last_used_at: new Date() })
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

export function toApiKeyDto(k: ApiKeyEntity): ApiKeyDto {
  const expired = k.expires_at !== null && k.expires_at.getTime() <= Date.now();
  return {
    key_id: k.key_id,
    orgcode: k.orgcode,
    app_id: k.app_id,
    name: k.name,
    prefix: k.prefix,
    permissions: k.permissions as Permission[],
    created_at: k.created_at.toISOString(),
    created_by: k.created_by,
    expires_at: k.expires_at?.toISOString() ?? null,
    last_used_at: k.last_used_at?.toISOString() ?? null,
    revoked_at: k.revoked_at?.toISOString() ?? null,
    status: k.revoked_at ? 'revoked' : expired ? 'expired' : 'active',
  };
}
