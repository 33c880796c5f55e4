#!/usr/bin/env node
// Runs the built CLI (dist/apps/cli/main.js), building it first on a fresh clone.
// Build output goes to stderr so that `TOKEN=$(npm run -s cli -- token ...)` captures only the token.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist/apps/cli/main.js');
if (!existsSync(entry)) {
  process.stderr.write('building the cli (first run)...\n');
  const b = spawnSync('npx', ['nest', 'build', 'cli'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const r = spawnSync(process.execPath, [entry, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
