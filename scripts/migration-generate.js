#!/usr/bin/env node
// Usage: npm run migration:generate -- <Name>
// Diffs the entities against the database in DATABASE_URL (migrated first) and writes
// libs/persistence/src/migrations/<timestamp>-<Name>.ts. Add the class to migrations/index.ts:
// the bundled apps load migrations from that list, not from a glob.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const name = process.argv[2];
if (!name || !/^[A-Za-z][A-Za-z0-9]*$/.test(name)) {
  console.error('usage: npm run migration:generate -- <PascalCaseName>');
  process.exit(2);
}
const root = path.resolve(__dirname, '..');
const env = { ...process.env, TS_NODE_PROJECT: path.join(root, 'tsconfig.json'), TS_NODE_TRANSPILE_ONLY: 'true' };
const run = (args) => spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });

let r = run(['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', 'scripts/ts/migrate.ts']);
if (r.status !== 0) process.exit(r.status ?? 1);
r = run([
  '-r',
  'ts-node/register',
  '-r',
  'tsconfig-paths/register',
  require.resolve('typeorm/cli.js'),
  'migration:generate',
  `libs/persistence/src/migrations/${name}`,
  '-d',
  'apps/cli/src/data-source.ts',
  '--timestamp',
]);
if (r.status === 0) {
  spawnSync('npx', ['prettier', '--write', 'libs/persistence/src/migrations'], { cwd: root, stdio: 'ignore' });
  console.log(`\nNow add the new class to libs/persistence/src/migrations/index.ts.`);
}
process.exit(r.status ?? 1);
