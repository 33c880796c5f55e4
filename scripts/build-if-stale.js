// Builds those of `apps` whose dist/apps/<app>/main.js is missing or older than their sources (apps/<app>/src
// and libs/), in one `nest build`; exits the process if the build fails. Used by scripts/bench.js and chaos.js.
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync, utimesSync } = require('node:fs');
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

function buildIfStale(apps) {
  const stale = apps.filter((app) => {
    const main = path.join(root, 'dist/apps', app, 'main.js');
    return !existsSync(main) || statSync(main).mtimeMs < newestSource([`apps/${app}/src`, 'libs']);
  });
  if (!stale.length) return;
  process.stderr.write(`building ${stale.join(' and ')} (dist/ is missing or older than the sources)...\n`);
  const b = spawnSync(path.join(root, 'node_modules/.bin/nest'), ['build', ...stale], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
  // webpack leaves a bundle whose content did not change untouched: mark it fresh, or every run rebuilds it.
  const now = new Date();
  for (const app of stale) utimesSync(path.join(root, 'dist/apps', app, 'main.js'), now, now);
}

/** Runs a TypeScript entry point under ts-node (transpile only) from the repository root; exits with its status. */
function runTs(entry, args) {
  const env = { ...process.env, TS_NODE_PROJECT: path.join(root, 'tsconfig.json'), TS_NODE_TRANSPILE_ONLY: 'true' };
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', entry, ...args], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

module.exports = { buildIfStale, runTs };
