#!/usr/bin/env node
// `npm run openapi`: writes openapi.json at the repository root from the code (the document the api serves at
// /docs-json, with the package version). `npm run openapi -- --check`: exits 1 when the committed file differs
// (CI runs it). Needs neither PostgreSQL nor Redis. Lint the file with `npm run lint:openapi`.
const { runTs } = require('./build-if-stale');

runTs('scripts/ts/openapi.ts', process.argv.slice(2));
