import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { AppConfig } from '@ipm/core';
import { dataSourceOptions } from './data-source-options';

/** Any fixed number: serialises concurrent migrators (several api replicas starting at once). */
const MIGRATION_LOCK_ID = 0x49504d; // "IPM"

/** Creates the database named in DATABASE_URL if it does not exist (connects to `postgres`). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return false;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } catch (err) {
    // Another migrator created it between our check and our CREATE.
    if ((err as { code?: string }).code === '42P04') return false;
    throw err;
  } finally {
    await client.end();
  }
}

/** Applies pending migrations under an advisory lock; returns the names applied. */
export async function runMigrations(config: Pick<AppConfig, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'>): Promise<string[]> {
  await ensureDatabase(config.DATABASE_URL);
  const ds = new DataSource({ ...dataSourceOptions(config), poolSize: 2 });
  await ds.initialize();
  try {
    const runner = ds.createQueryRunner();
    await runner.connect();
    try {
      await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
      await runner.release();
    }
  } finally {
    await ds.destroy();
  }
}

/** Reverts the last applied migration. */
export async function revertMigration(config: Pick<AppConfig, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'>): Promise<void> {
  const ds = new DataSource({ ...dataSourceOptions(config), poolSize: 2 });
  await ds.initialize();
  try {
    await ds.undoLastMigration({ transaction: 'each' });
  } finally {
    await ds.destroy();
  }
}
