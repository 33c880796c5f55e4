// Builds a dist app (e.g. the worker) when dist/ is missing or older than its sources, as scripts/bench.js
// does for the apps it knows a benchmark needs.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './processes';

/** Newest mtime (ms) of the non-test .ts files under `dirs` (relative to the repo root). */
function newestSource(dirs: readonly string[]): number {
  let newest = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !/\.(spec|e2e-spec|int-spec)\.ts$/.test(entry.name)) {
        newest = Math.max(newest, statSync(full).mtimeMs);
      }
    }
  };
  for (const dir of dirs) if (existsSync(path.join(ROOT, dir))) walk(path.join(ROOT, dir));
  return newest;
}

/** Runs `nest build <apps>` for those of `apps` whose dist/apps/<app>/main.js is missing or stale. */
export function ensureBuilt(apps: readonly string[]): void {
  const stale = apps.filter((app) => {
    const main = path.join(ROOT, 'dist/apps', app, 'main.js');
    return !existsSync(main) || statSync(main).mtimeMs < newestSource([`apps/${app}/src`, 'libs']);
  });
  if (!stale.length) return;
  process.stderr.write(`building ${stale.join(' and ')} (dist/ is missing or older than the sources)...\n`);
  const b = spawnSync(path.join(ROOT, 'node_modules/.bin/nest'), ['build', ...stale], { cwd: ROOT, stdio: 'inherit' });
  if (b.status !== 0) throw new Error(`nest build ${stale.join(' ')} failed (${b.status ?? b.signal})`);
}
