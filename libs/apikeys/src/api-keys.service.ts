import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { AppError, IdPrefix, newId, Page, PageTokens } from '@ipm/core';
import { AuditService } from '@ipm/audit';
import { PlatformEvents } from '@ipm/events';
import { fetchKeysetPage } from '@ipm/persistence';
import { ApiKeyEntity, ApiKeyRepository, generateApiKey, hashApiKey, visiblePrefix } from '@ipm/auth';
import type { Caller, Permission } from '@ipm/auth';
import {
  ApiKeyCreatedDto,
  ApiKeyCreateRequestDto,
  ApiKeyDto,
  ApiKeyListRequestDto,
  ApiKeyRevokeRequestDto,
} from './api-key.dto';

@Injectable()
export class ApiKeysService {
  constructor(
    private readonly keys: ApiKeyRepository,
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
      parent_key_id: null,
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
      revoked_by: null,
    };
    await this.dataSource.transaction(async (em) => {
      if (caller.kind === 'api_key') {
        // FOR SHARE: a revoke of the creating key (which locks it FOR UPDATE) either waits for this
        // key to exist, and then revokes it too, or goes first, and this creation is refused.
        const parent = await this.keys.findOne(caller, { key_id: caller.actor_id }, { em, lock: 'share' });
        if (!parent || parent.revoked_at) throw AppError.unauthorized('API key revoked');
        entity.parent_key_id = parent.key_id;
        entity.expires_at = childKeyExpiry(expiresAt, parent.expires_at);
      }
      await this.keys.insert(caller, entity, em);
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
    if (caller.app_id && request.app_id && request.app_id !== caller.app_id) return { items: [] };
    // An app principal's keys are its app's (the scope); others may narrow to one app.
    const qb = this.keys.query(caller, 'k');
    if (!caller.app_id && request.app_id) qb.andWhere('k.app_id = :app_id', { app_id: request.app_id });
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
      const key = await this.keys.findOne(caller, { key_id: request.key_id }, { em, lock: 'update' });
      if (!key) throw AppError.notFound('API key');
      // Revoking twice changes nothing on the key, but still revokes any key it created that is
      // active (keys made before cascades existed), so a revoke always leaves the whole tree revoked.
      const now = new Date();
      const revoked: Array<Pick<ApiKeyEntity, 'key_id' | 'prefix'>> = [];
      if (!key.revoked_at) {
        key.revoked_at = now;
        key.revoked_by = caller.actor_id;
        await this.keys.update(caller, { key_id: key.key_id }, { revoked_at: now, revoked_by: caller.actor_id }, em);
        revoked.push(key);
      }
      const descendants = await this.revokeDescendants(em, key, now, caller.actor_id);
      for (const k of [...revoked, ...descendants]) {
        const cascade = k.key_id !== key.key_id;
        await this.audit.record(em, caller, request, {
          action: 'apikey.revoke',
          target_type: 'api_key',
          target_id: k.key_id,
          metadata: cascade ? { prefix: k.prefix, revoked_with: key.key_id } : { prefix: k.prefix },
        });
        await this.events.emit(
          em,
          caller,
          'apikey.revoked',
          { key_id: k.key_id, prefix: k.prefix },
          { logical_guid: k.key_id },
        );
      }
      return toApiKeyDto(key);
    });
  }

  /**
   * Revokes every active key below `root` (the keys it created, theirs, and so on), whatever their
   * app. Repeated until a pass finds none: a key created by a descendant while this runs (its
   * creation holds its parent FOR SHARE, so the update of that parent waits for it) is seen by the
   * next pass, which reads afresh.
   */
  private async revokeDescendants(
    em: EntityManager,
    root: ApiKeyEntity,
    at: Date,
    actor: string,
  ): Promise<Array<Pick<ApiKeyEntity, 'key_id' | 'prefix'>>> {
    const all: Array<Pick<ApiKeyEntity, 'key_id' | 'prefix'>> = [];
    for (;;) {
      const [rows] = await em.query<[Array<Pick<ApiKeyEntity, 'key_id' | 'prefix'>>, number]>(
        `WITH RECURSIVE tree AS (
           SELECT key_id FROM api_keys WHERE orgcode = $1 AND parent_key_id = $2
           UNION
           SELECT k.key_id FROM api_keys k JOIN tree t ON k.parent_key_id = t.key_id WHERE k.orgcode = $1
         )
         UPDATE api_keys SET revoked_at = $3, revoked_by = $4
          WHERE orgcode = $1 AND revoked_at IS NULL AND key_id IN (SELECT key_id FROM tree)
         RETURNING key_id, prefix`,
        [root.orgcode, root.key_id, at, actor],
      );
      if (rows.length === 0) return all.sort((a, b) => a.key_id.localeCompare(b.key_id));
      all.push(...rows);
    }
  }
}

/**
 * The expiry of a key created by a key that expires: no later than the creator's. Asked for later,
 * it is a 422 naming `expires_at` (never silently shortened); not asked for, it is the creator's.
 */
export function childKeyExpiry(requested: Date | null, creator: Date | null): Date | null {
  if (creator === null) return requested;
  if (requested === null) return creator;
  if (requested.getTime() > creator.getTime()) {
    const message = `expires_at must be no later than the creating API key's expires_at (${creator.toISOString()})`;
    throw AppError.unprocessable(message, [{ field: 'expires_at', message }]);
  }
  return requested;
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
