import { loadConfig } from '@ipm/core/config/config.schema';
import { runMigrations } from '@ipm/persistence/migrate';

void runMigrations(loadConfig(process.env)).then(
  (applied) => console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date'),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
