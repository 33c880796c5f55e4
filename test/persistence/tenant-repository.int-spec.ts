import { DataSource } from 'typeorm';
import { AppError, ErrorCode, loadConfig } from '@ipm/core';
import { KpiSnapshotEntity } from '@ipm/kpis';
import { dataSourceOptions, TenantRepository, type TenantScope } from '@ipm/persistence';

/**
 * TenantRepository against the run's migrated PostgreSQL, on kpi_snapshots (tenant-owned,
 * app-scoped, revisioned): a scope never reaches another tenant's rows, an app principal's scope
 * only its app's, and revise() is the revisioned update with its 409.
 */
describe('TenantRepository (PostgreSQL)', () => {
  let ds: DataSource;
  let repo: TenantRepository<KpiSnapshotEntity>;
  const run = Date.now().toString(36);
  const orgA = `tenant-a-${run}`;
  const orgB = `tenant-b-${run}`;
  const a: TenantScope = { orgcode: orgA };
  const b: TenantScope = { orgcode: orgB };
  const hour = new Date('2026-01-01T00:00:00.000Z');
  let n = 0;

  const snapshot = (orgcode: string, app_id: string | null, kpi_code: string, value = 1): KpiSnapshotEntity => {
    n += 1;
    const now = new Date();
    return {
      kpi_id: `kpi_${run}_${n}`.slice(0, 40),
      orgcode,
      app_id,
      kpi_code,
      scope: 'org',
      bucket: 'hourly',
      bucket_start: hour,
      bucket_end: new Date(hour.getTime() + 3_600_000),
      value,
      created_at: now,
      created_by: 'test',
      updated_at: now,
      updated_by: 'test',
      revision: 1,
    };
  };
  const ids = (rows: readonly KpiSnapshotEntity[]): string[] => rows.map((r) => r.kpi_id).sort();

  let a1: KpiSnapshotEntity;
  let a2: KpiSnapshotEntity;
  let b1: KpiSnapshotEntity;

  beforeAll(async () => {
    ds = new DataSource({ ...dataSourceOptions(loadConfig(process.env), [KpiSnapshotEntity]), poolSize: 2 });
    await ds.initialize();
    repo = new TenantRepository(KpiSnapshotEntity, ds.manager);
  });
  afterAll(async () => {
    await ds.query(`DELETE FROM kpi_snapshots WHERE orgcode = ANY($1)`, [[orgA, orgB]]);
    await ds.destroy();
  });

  beforeEach(async () => {
    await ds.query(`DELETE FROM kpi_snapshots WHERE orgcode = ANY($1)`, [[orgA, orgB]]);
    a1 = snapshot(orgA, 'app_x', 'orders.count');
    a2 = snapshot(orgA, 'app_y', 'orders.value');
    b1 = snapshot(orgB, 'app_x', 'orders.count');
    await repo.insert(a, [a1, a2]);
    await repo.insert(b, b1);
  });

  it("find, findOne, count and query see the scope's tenant only", async () => {
    expect(ids(await repo.find(a, {}))).toEqual(ids([a1, a2]));
    expect(ids(await repo.find(b, {}))).toEqual([b1.kpi_id]);
    // The same key in both tenants: each scope finds its own.
    expect((await repo.findOne(a, { kpi_code: 'orders.count' }))?.kpi_id).toBe(a1.kpi_id);
    expect((await repo.findOne(b, { kpi_code: 'orders.count' }))?.kpi_id).toBe(b1.kpi_id);
    expect(await repo.findOne(a, { kpi_id: b1.kpi_id })).toBeNull();
    expect(await repo.count(a)).toBe(2);
    expect(await repo.count(b)).toBe(1);
    expect(await repo.count(a, { kpi_id: b1.kpi_id })).toBe(0);
    expect(ids(await repo.query(a, 'k').getMany())).toEqual(ids([a1, a2]));
    const byCode = await repo.query(b, 'k').andWhere('k.kpi_code = :code', { code: 'orders.count' }).getMany();
    expect(ids(byCode)).toEqual([b1.kpi_id]);
  });

  it("update and delete never touch another tenant's rows", async () => {
    expect(await repo.update(a, { kpi_id: b1.kpi_id }, { value: 99 })).toBe(0);
    expect(await repo.update(a, { kpi_code: 'orders.count' }, { value: 5 })).toBe(1);
    expect((await repo.findOne(b, { kpi_id: b1.kpi_id }))?.value).toBe(1);
    expect((await repo.findOne(a, { kpi_id: a1.kpi_id }))?.value).toBe(5);

    expect(await repo.delete(a, { kpi_id: b1.kpi_id })).toBe(0);
    expect(await repo.count(b)).toBe(1);
    expect(await repo.delete(b, { kpi_code: 'orders.count' })).toBe(1);
    expect(await repo.count(b)).toBe(0);
    expect(await repo.count(a)).toBe(2);
  });

  it("narrows an app principal's scope to its app on a table with app_id", async () => {
    const appX: TenantScope = { orgcode: orgA, app_id: 'app_x' };
    expect(ids(await repo.find(appX, {}))).toEqual([a1.kpi_id]);
    expect(await repo.count(appX)).toBe(1);
    expect(await repo.findOne(appX, { kpi_id: a2.kpi_id })).toBeNull();
    expect(ids(await repo.query(appX, 'k').getMany())).toEqual([a1.kpi_id]);
    expect(await repo.update(appX, { kpi_id: a2.kpi_id }, { value: 7 })).toBe(0);
    expect(await repo.delete(appX, { kpi_id: a2.kpi_id })).toBe(0);
    expect(await repo.count(a)).toBe(2);
    // A tenant-wide scope (no app) sees every app's rows.
    expect(await repo.count({ orgcode: orgA, app_id: null })).toBe(2);
  });

  it('refuses to insert a row of another tenant, and inserts none of the batch', async () => {
    const foreign = snapshot(orgB, null, 'orders.refunds');
    const own = snapshot(orgA, null, 'orders.refunds');
    await expect(repo.insert(a, [own, foreign])).rejects.toThrow(/refusing to insert a row of/);
    expect(await repo.count(a, { kpi_code: 'orders.refunds' })).toBe(0);
    expect(await repo.count(b, { kpi_code: 'orders.refunds' })).toBe(0);
  });

  it('revise() bumps the revision and stamps the actor; 409 on a stale expected revision', async () => {
    const revised = await ds.transaction(async (em) => {
      const row = await repo.findOne(a, { kpi_id: a1.kpi_id }, { em, lock: 'update' });
      if (!row) throw new Error('row not found');
      return repo.revise(a, em, row, { kpi_id: row.kpi_id }, { expected: 1, actor: 'user_2', patch: { value: 2 } });
    });
    expect(revised).toMatchObject({ kpi_id: a1.kpi_id, value: 2, revision: 2, updated_by: 'user_2' });
    const stored = await repo.findOne(a, { kpi_id: a1.kpi_id });
    expect(stored).toMatchObject({ value: 2, revision: 2, updated_by: 'user_2' });

    const stale = ds.transaction(async (em) => {
      const row = await repo.findOne(a, { kpi_id: a1.kpi_id }, { em, lock: 'update' });
      if (!row) throw new Error('row not found');
      return repo.revise(a, em, row, { kpi_id: row.kpi_id }, { expected: 1, actor: 'user_3', patch: { value: 3 } });
    });
    await expect(stale).rejects.toMatchObject({ status: 409, code: ErrorCode.RevisionMismatch });
    expect(await repo.findOne(a, { kpi_id: a1.kpi_id })).toMatchObject({ value: 2, revision: 2 });
  });

  it('revise() is a 409 when the row changed since it was read, and never reaches another tenant', async () => {
    const read = await repo.findOne(a, { kpi_id: a1.kpi_id });
    if (!read) throw new Error('row not found');
    // Someone else's change lands between the read and the revise.
    await ds.transaction((em) =>
      repo.revise(a, em, read, { kpi_id: read.kpi_id }, { actor: 'other', patch: { value: 10 } }),
    );
    const late = ds.transaction((em) =>
      repo.revise(a, em, read, { kpi_id: read.kpi_id }, { actor: 'late', patch: { value: 20 } }),
    );
    await expect(late).rejects.toBeInstanceOf(AppError);
    await expect(late).rejects.toMatchObject({ status: 409, code: ErrorCode.RevisionMismatch });
    expect(await repo.findOne(a, { kpi_id: a1.kpi_id })).toMatchObject({ value: 10, revision: 2, updated_by: 'other' });

    // Tenant A's scope cannot revise tenant B's row, even holding it.
    const theirs = await repo.findOne(b, { kpi_id: b1.kpi_id });
    if (!theirs) throw new Error('row not found');
    const foreign = ds.transaction((em) =>
      repo.revise(a, em, theirs, { kpi_id: theirs.kpi_id }, { actor: 'intruder', patch: { value: 30 } }),
    );
    await expect(foreign).rejects.toMatchObject({ status: 409 });
    expect(await repo.findOne(b, { kpi_id: b1.kpi_id })).toMatchObject({ value: 1, revision: 1 });
  });
});
