import { loadConfig } from '@ipm/core';
import { runMigrations } from '@ipm/persistence';

void runMigrations(loadConfig(process.env)).then(
  (applied) => console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date'),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
