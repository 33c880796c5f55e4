#!/usr/bin/env node
// `npm run chaos [-- <scenario>...] [--events N] [--webhooks N] [--batch N]`: the fault scenarios of
// test/chaos/scenarios.ts at full size, against a PostgreSQL cluster and a Redis server started for the run
// (the shared ones are never touched); prints a table and writes it to bench/results/chaos-latest.md; exits 1
// if anything was lost. Builds the api and the worker first when dist/ is missing or older than their sources.
const { buildIfStale, runTs } = require('./build-if-stale');

buildIfStale(['api', 'worker']);
runTs('test/chaos/main.ts', process.argv.slice(2));
