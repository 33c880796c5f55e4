import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull } from 'typeorm';
import { acrossTenants, TenantRepository } from '@ipm/persistence';
import { ApiKeyEntity } from './api-key.entity';

/**
 * Every query on `api_keys`: scoped to a tenant (and an app, for app principals) like every
 * TenantRepository, but for authentication, where the presented key is what names its tenant.
 */
@Injectable()
export class ApiKeyRepository extends TenantRepository<ApiKeyEntity> {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    super(ApiKeyEntity, dataSource.manager);
  }

  /** The key with this hash, whichever tenant's (ux_api_keys_hash). */
  findByHash(keyHash: string): Promise<ApiKeyEntity | null> {
    return acrossTenants('authentication: the key names its tenant', () =>
      this.dataSource.manager.findOneBy(ApiKeyEntity, { key_hash: keyHash }),
    );
  }

  /** Notes the key's use, unless it was revoked meanwhile; the key row is its own scope. */
  async touch(key: ApiKeyEntity, at: Date): Promise<void> {
    await this.update({ orgcode: key.orgcode }, { key_id: key.key_id, revoked_at: IsNull() }, { last_used_at: at });
  }
}
