import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type FindOptionsWhere, LessThan, type Repository } from 'typeorm';
import { IdempotencyRecordEntity } from './idempotency-record.entity';

/** Whose keys a statement touches (a Caller, or any TenantScope of @ipm/persistence, is one). */
export interface IdempotencyScope {
  readonly orgcode: string;
}

/** A where-clause without the tenant: the repository adds it. */
type KeyWhere = Omit<FindOptionsWhere<IdempotencyRecordEntity>, 'orgcode'>;

/**
 * `idempotency_keys`, always within a tenant (the primary key starts with it). The core lib sits
 * below @ipm/persistence, so this is its own small scoped repository rather than a TenantRepository;
 * its one statement across tenants, the expiry purge, says so in its name.
 */
@Injectable()
export class IdempotencyKeysRepository {
  constructor(@InjectRepository(IdempotencyRecordEntity) private readonly repo: Repository<IdempotencyRecordEntity>) {}

  /** Inserts the tenant's claim unless its key exists: whether it was inserted. */
  async insertIfAbsent(
    scope: IdempotencyScope,
    row: Pick<
      IdempotencyRecordEntity,
      'idempotency_key' | 'call' | 'request_hash' | 'state' | 'created_at' | 'expires_at'
    >,
  ): Promise<boolean> {
    const inserted = await this.repo
      .createQueryBuilder()
      .insert()
      .values({ ...row, orgcode: scope.orgcode })
      .orIgnore()
      .returning(['idempotency_key'])
      .execute();
    return (inserted.raw as unknown[]).length > 0;
  }

  findOne(scope: IdempotencyScope, key: string): Promise<IdempotencyRecordEntity | null> {
    return this.repo.findOneBy({ orgcode: scope.orgcode, idempotency_key: key });
  }

  /** Updates the tenant's rows matching `where`; returns how many changed. */
  async update(scope: IdempotencyScope, where: KeyWhere, patch: Partial<IdempotencyRecordEntity>): Promise<number> {
    const { orgcode: _ignored, ...change } = patch;
    const res = await this.repo.update({ ...where, orgcode: scope.orgcode }, change);
    return res.affected ?? 0;
  }

  /** Deletes the tenant's rows matching `where`; returns how many went. */
  async delete(scope: IdempotencyScope, where: KeyWhere): Promise<number> {
    const res = await this.repo.delete({ ...where, orgcode: scope.orgcode });
    return res.affected ?? 0;
  }

  /** Maintenance, deliberately across tenants: deletes every tenant's expired keys; returns how many. */
  async purgeExpiredInEveryTenant(now: Date): Promise<number> {
    const res = await this.repo.delete({ expires_at: LessThan(now) });
    return res.affected ?? 0;
  }
}
