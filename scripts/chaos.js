#!/usr/bin/env node
// `npm run chaos [-- <scenario>...] [--events N] [--webhooks N] [--batch N]`: the fault scenarios of
// test/chaos/scenarios.ts at full size, against a PostgreSQL cluster and a Redis server started for the run
// (the shared ones are never touched); prints a table and writes it to bench/results/chaos-latest.md; exits 1
// if anything was lost. Builds the api and the worker first when dist/ is missing or older than their sources.
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** Newest mtime (ms) of the non-test .ts files under `dirs`. */
function newestSource(dirs) {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !/\.(spec|e2e-spec|int-spec)\.ts$/.test(entry.name)) {
        newest = Math.max(newest, statSync(full).mtimeMs);
      }
    }
  };
  for (const dir of dirs) if (existsSync(path.join(root, dir))) walk(path.join(root, dir));
  return newest;
}

const stale = ['api', 'worker'].filter((app) => {
  const main = path.join(root, 'dist/apps', app, 'main.js');
  return !existsSync(main) || statSync(main).mtimeMs < newestSource([`apps/${app}/src`, 'libs']);
});
if (stale.length) {
  process.stderr.write(`building ${stale.join(' and ')} (dist/ is missing or older than the sources)...\n`);
  const b = spawnSync(path.join(root, 'node_modules/.bin/nest'), ['build', ...stale], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

const env = { ...process.env, TS_NODE_PROJECT: path.join(root, 'tsconfig.json'), TS_NODE_TRANSPILE_ONLY: 'true' };
const r = spawnSync(
  process.execPath,
  ['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', 'test/chaos/main.ts', ...process.argv.slice(2)],
  { cwd: root, env, stdio: 'inherit' },
);
process.exit(r.status ?? 1);
