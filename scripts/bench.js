#!/usr/bin/env node
// `npm run bench [-- http|micro|publish|webhooks|delivery|bulk]`: the benchmarks in bench/ (see bench/README.md).
// Builds the api and the cli first when dist/ is missing or older than their sources, then runs
// bench/main.ts with ts-node. Needs PostgreSQL and Redis, like the api.
const { buildIfStale, runTs } = require('./build-if-stale');

// `-- micro` needs no build; the benches that run a worker (alone or in the full run) need it built too.
const only = process.argv[2];
const apps =
  only === 'micro'
    ? []
    : only === undefined || ['delivery', 'bulk', 'noisy', 'hostile', 'scale'].includes(only)
      ? ['api', 'cli', 'worker']
      : ['api', 'cli'];
buildIfStale(apps);
runTs('bench/main.ts', process.argv.slice(2));
