// `npm run openapi`: writes openapi.json (the API's OpenAPI document) from the code; `-- --check` only compares
// and exits 1 when the committed file differs. See scripts/openapi.js.
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import { format, resolveConfig } from 'prettier';
import { ApiModule } from '../../apps/api/src/api.module';
import { API_PREFIX, API_PREFIX_EXCLUDE, buildOpenApiDocument } from '../../apps/api/src/openapi';

const root = path.resolve(__dirname, '../..');
const target = path.join(root, 'openapi.json');

/** An object's keys sorted (its values untouched). */
function sortKeys<T>(obj: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!obj) return obj;
  return Object.fromEntries(
    Object.keys(obj)
      .sort()
      .map((k) => [k, obj[k]]),
  );
}

/**
 * The document the api serves at /docs-json, built without a database or Redis: Nest's preview mode
 * resolves the module graph (controllers, DTO metadata) without instantiating providers. The global
 * prefix and its exclusions are those of apps/api/src/openapi.ts, which bootstrap.ts sets too
 * (test/api/openapi-artifact.e2e-spec.ts compares this file with what a running api serves). Its version is the
 * package's, as served, so that the file depends on the code only.
 */
async function generate(): Promise<OpenAPIObject> {
  const app = await NestFactory.create(ApiModule, new FastifyAdapter(), { preview: true, logger: false });
  app.setGlobalPrefix(API_PREFIX, { exclude: API_PREFIX_EXCLUDE });
  const doc = buildOpenApiDocument(app);
  await app.close();
  // Paths and schemas in a fixed order (not the order modules register in).
  doc.paths = sortKeys(doc.paths) ?? {};
  if (doc.components) doc.components.schemas = sortKeys(doc.components.schemas);
  return doc;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const doc = await generate();
  // Formatted as `prettier --check .` expects.
  const options = (await resolveConfig(target)) ?? {};
  const text = await format(JSON.stringify(doc, null, 2), { ...options, filepath: target });
  if (!check) {
    writeFileSync(target, text);
    process.stdout.write(`wrote openapi.json (${Object.keys(doc.paths).length} paths)\n`);
    return;
  }
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // missing: differs
  }
  if (committed === text) {
    process.stdout.write(`openapi.json is up to date (${Object.keys(doc.paths).length} paths)\n`);
    return;
  }
  process.stderr.write(
    'openapi.json differs from the document the code generates (or is missing).\n' +
      'Run `npm run openapi` and commit openapi.json.\n',
  );
  process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
