import { Column, type EntityManager, type EntityTarget, type FindOptionsWhere, type ObjectLiteral } from 'typeorm';
import type { SelectQueryBuilder } from 'typeorm';
import { revisionMismatch } from '@ipm/core';

/**
 * Whose rows a query may touch: a tenant, narrowed to one application for app principals (API
 * keys bound to an app). A Caller is a TenantScope, so services pass the caller itself.
 */
export interface TenantScope {
  readonly orgcode: string;
  /** Set for app principals: on tables with an `app_id`, only that app's rows exist for them. */
  readonly app_id?: string | null;
}

/**
 * The tenant column of every tenant-owned table. An entity whose key starts with the tenant
 * declares its own @PrimaryColumn `orgcode` instead: TypeORM keeps a base class's column over a
 * subclass's redeclaration.
 */
export abstract class TenantOwned {
  @Column({ type: 'varchar', length: 64 })
  orgcode!: string;
}

/** The revision bookkeeping a revisioned update writes (RevisionedRecord's columns). */
interface Revisioned {
  revision: number;
  updated_at: Date;
  updated_by: string;
}

/** A where-clause without the tenant: the repository adds it. */
export type ScopedWhere<E> = Omit<FindOptionsWhere<E>, 'orgcode'>;

/** A change to a row: never its tenant. */
export type ScopedPatch<E> = Partial<Omit<E, 'orgcode'>>;

export interface ReadOptions {
  /** A transaction's manager; without it, the data source's. */
  em?: EntityManager;
  /** Lock the rows read until `em`'s transaction ends (FOR UPDATE / FOR SHARE). */
  lock?: 'update' | 'share';
}

/**
 * The one typed path to a tenant-owned table: every read and write takes the scope, so a query
 * without the tenant does not compile (and ESLint refuses the entity API outside repositories).
 * Features build theirs with `new TenantRepository(Entity, dataSource.manager)`, or extend it
 * with their own SQL, each statement naming `orgcode` from the scope.
 */
export class TenantRepository<E extends TenantOwned & ObjectLiteral> {
  /** Whether the table has an `app_id` column that app principals are narrowed to. */
  private readonly appScoped: boolean;

  constructor(
    readonly entity: EntityTarget<E>,
    private readonly manager: EntityManager,
  ) {
    this.appScoped = manager.connection.getMetadata(entity).findColumnWithPropertyName('app_id') !== undefined;
  }

  /** The where-clause `where` narrowed to the scope (its tenant, and its app on app-scoped tables). */
  where(scope: TenantScope, where?: ScopedWhere<E>): FindOptionsWhere<E> {
    const scoped: Record<string, unknown> = { ...where, orgcode: scope.orgcode };
    if (this.appScoped && scope.app_id) scoped.app_id = scope.app_id;
    return scoped as FindOptionsWhere<E>;
  }

  findOne(scope: TenantScope, where: ScopedWhere<E>, options: ReadOptions = {}): Promise<E | null> {
    return this.em(options.em).findOne(this.entity, {
      where: this.where(scope, where),
      ...(options.lock ? { lock: { mode: options.lock === 'update' ? 'pessimistic_write' : 'pessimistic_read' } } : {}),
    });
  }

  find(
    scope: TenantScope,
    where: ScopedWhere<E>,
    options: ReadOptions & { order?: { [K in keyof E]?: 'ASC' | 'DESC' }; take?: number } = {},
  ): Promise<E[]> {
    return this.em(options.em).find(this.entity, {
      where: this.where(scope, where),
      ...(options.order ? { order: options.order as never } : {}),
      ...(options.take !== undefined ? { take: options.take } : {}),
      ...(options.lock ? { lock: { mode: options.lock === 'update' ? 'pessimistic_write' : 'pessimistic_read' } } : {}),
    });
  }

  count(scope: TenantScope, where?: ScopedWhere<E>, em?: EntityManager): Promise<number> {
    return this.em(em).count(this.entity, { where: this.where(scope, where) });
  }

  /** Inserts rows of the scope's tenant: a row naming another tenant is a programming error. */
  async insert(scope: TenantScope, rows: E | E[], em?: EntityManager): Promise<void> {
    const list = Array.isArray(rows) ? rows : [rows];
    for (const row of list) {
      if (row.orgcode !== scope.orgcode)
        throw new Error(`refusing to insert a row of ${row.orgcode} for ${scope.orgcode}`);
    }
    if (list.length) await this.em(em).insert(this.entity, list);
  }

  /** Updates the scope's rows matching `where`; returns how many changed. */
  async update(scope: TenantScope, where: ScopedWhere<E>, patch: ScopedPatch<E>, em?: EntityManager): Promise<number> {
    const result = await this.em(em).update(this.entity, this.where(scope, where), patch as never);
    return result.affected ?? 0;
  }

  /** Deletes the scope's rows matching `where`; returns how many went. */
  async delete(scope: TenantScope, where: ScopedWhere<E>, em?: EntityManager): Promise<number> {
    const result = await this.em(em).delete(this.entity, this.where(scope, where));
    return result.affected ?? 0;
  }

  /** A query builder over the scope's rows (`alias.orgcode = :orgcode`, and its app where scoped). */
  query(scope: TenantScope, alias: string, em?: EntityManager): SelectQueryBuilder<E> {
    const qb = this.em(em)
      .createQueryBuilder(this.entity, alias)
      .where(`${alias}.orgcode = :scope_orgcode`, { scope_orgcode: scope.orgcode });
    if (this.appScoped && scope.app_id) qb.andWhere(`${alias}.app_id = :scope_app_id`, { scope_app_id: scope.app_id });
    return qb;
  }

  /**
   * The revisioned update, written once: 409 `revision_mismatch` unless `expected` (when given) is
   * the row's revision, then `patch` with the next revision, stamped with `actor` and now, on the
   * row as read (`where` names it; the revision read is part of the condition, so a concurrent
   * change makes this a 409 too). Returns the row as it now is. Call it inside the transaction
   * that read the row (FOR UPDATE) and that writes the audit row and the change-feed event.
   */
  async revise<R extends E & Revisioned>(
    scope: TenantScope,
    em: EntityManager,
    row: R,
    where: ScopedWhere<E>,
    change: { expected?: number; actor: string; patch: ScopedPatch<E>; at?: Date },
  ): Promise<R> {
    if (change.expected !== undefined && change.expected !== row.revision) {
      throw revisionMismatch(change.expected, row.revision);
    }
    const stamp = { revision: row.revision + 1, updated_at: change.at ?? new Date(), updated_by: change.actor };
    const full = { ...change.patch, ...stamp };
    const changed = await this.update(scope, { ...where, revision: row.revision }, full, em);
    if (changed !== 1) throw revisionMismatch(change.expected ?? row.revision, row.revision + 1);
    return { ...row, ...full };
  }

  /**
   * 409 `revision_mismatch` unless `expected` (when given) is `row`'s revision: for a change that
   * checks the caller's revision before anything else about the request (revise() checks it again).
   */
  expectRevision(row: Revisioned, expected: number | undefined): void {
    if (expected !== undefined && expected !== row.revision) throw revisionMismatch(expected, row.revision);
  }

  private em(em?: EntityManager): EntityManager {
    return em ?? this.manager;
  }
}

/**
 * Marks a statement that reads or writes across tenants on purpose (the sweeper, retention, the
 * platform's own rollups): the reason is the comment, and grepping `acrossTenants(` lists them all.
 */
export function acrossTenants<T>(reason: string, run: () => T): T {
  void reason;
  return run();
}
