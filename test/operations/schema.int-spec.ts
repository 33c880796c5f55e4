import { DataSource } from 'typeorm';
import { ALL_ENTITIES } from '../../apps/cli/src/data-source';
import { loadConfig } from '@ipm/core';
import { dataSourceOptions } from '@ipm/persistence';
import { runMigrations } from '@ipm/persistence';

describe('migrations', () => {
  it('match the entities exactly (no drift for migration:generate to find), and rerunning is a no-op', async () => {
    const config = loadConfig(process.env);
    expect(await runMigrations(config)).toEqual([]);
    const ds = new DataSource({ ...dataSourceOptions(config, ALL_ENTITIES), poolSize: 1 });
    await ds.initialize();
    try {
      const pending = await ds.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
      const tables = await ds.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      expect(tables.map((t: { table_name: string }) => t.table_name)).toEqual(
        expect.arrayContaining(['api_keys', 'audit_log', 'idempotency_keys', 'ipm_migrations']),
      );
    } finally {
      await ds.destroy();
    }
  });
});
