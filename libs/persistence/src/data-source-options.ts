import type { DataSourceOptions } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions.js';
import type { AppConfig } from '@ipm/core';
import { MIGRATIONS } from './migrations';

type EntityList = NonNullable<DataSourceOptions['entities']>;

/**
 * The one place PostgreSQL options are built. `synchronize` is always off: the schema
 * comes from migrations only (tests run them too).
 */
export function dataSourceOptions(
  config: Pick<AppConfig, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'>,
  entities: EntityList = [],
): PostgresDataSourceOptions {
  return {
    type: 'postgres',
    url: config.DATABASE_URL,
    entities,
    migrations: MIGRATIONS,
    migrationsTableName: 'ipm_migrations',
    synchronize: false,
    migrationsRun: false,
    poolSize: config.DATABASE_POOL_SIZE,
    extra: { application_name: 'ipm' },
  };
}
