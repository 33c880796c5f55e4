import { RequestMethod, type INestApplication } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer, Reflector } from '@nestjs/core';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_SCHEME, AUTH_METADATA, AuthMetadata, JWT_SCHEME } from '@ipm/auth';
import { version as PACKAGE_VERSION } from '../../../package.json';
import { completeContract } from './openapi-contract';

/**
 * The api's global prefix and the routes outside it (health and metrics, for probes and scrapers).
 * scripts/ts/openapi.ts builds openapi.json with these; bootstrap.ts sets the same.
 */
export const API_PREFIX = 'ipm';
type GlobalPrefixOptions = NonNullable<Parameters<INestApplication['setGlobalPrefix']>[1]>;
export const API_PREFIX_EXCLUDE: NonNullable<GlobalPrefixOptions['exclude']> = [
  { path: 'health/live', method: RequestMethod.GET },
  { path: 'health/ready', method: RequestMethod.GET },
  { path: 'metrics', method: RequestMethod.GET },
];

/** The extension naming the permission a route needs (what the global guard enforces: 403 without it). */
export const PERMISSION_EXTENSION = 'x-required-permission';

/** The tags the controllers use (@ApiTags), described once for the document's global `tags` list. */
const TAGS: Record<string, string> = {
  health: 'Liveness, readiness and Prometheus metrics (no auth)',
  'api keys': "A tenant's API keys: create, list, revoke",
  audit: "The tenant's audit records",
  events: 'Publishing events, and the change feed',
  catalog: 'Event types, their JSON Schemas and specimens, export contracts, pagination conventions',
  webhooks: 'Webhook subscriptions, their deliveries, replays, tests and signing secrets',
  bulk: 'Bulk import and export jobs, their uploads and files',
  kpis: 'KPI snapshots, series queries and threshold alerts',
  lifecycle: 'The state machines the services enforce',
};

/**
 * The document, as /docs-json serves it and `npm run openapi` writes it. Its version is the package's
 * (the build id is in every response's `build`), so that the served and the committed documents are one.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('IPM API')
    .setDescription(
      'Multi-tenant integration platform: signed webhooks, event store and change feed, bulk jobs, KPIs, catalog. ' +
        'Every response is an envelope { success, data | error, build, stats }. Tenant routes need the x-orgcode header.',
    )
    .setVersion(PACKAGE_VERSION)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, JWT_SCHEME)
    .addApiKey({ type: 'apiKey', in: 'header', name: 'x-api-key' }, API_KEY_SCHEME)
    // Relative: the document describes the server that serves it.
    .addServer('/', 'This server');
  for (const [name, description] of Object.entries(TAGS)) builder.addTag(name, description);
  const config = builder.build();
  const doc = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controller, method) => `${controller.replace(/Controller$/, '')}_${method}`,
  });
  documentPermissions(app, doc);
  declareTags(doc);
  completeContract(doc);
  return doc;
}

/** Every tag an operation uses is in the global list (those missing from TAGS without a description). */
function declareTags(doc: OpenAPIObject): void {
  const declared = new Set((doc.tags ?? []).map((t) => t.name));
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item as Record<string, { tags?: unknown }>)) {
      if (!Array.isArray(op?.tags)) continue;
      for (const tag of op.tags as string[]) {
        if (declared.has(tag)) continue;
        declared.add(tag);
        (doc.tags ??= []).push({ name: tag });
      }
    }
  }
}

/**
 * Adds `x-required-permission` to every operation whose route needs a permission, read from the
 * same metadata the guard reads (@Authenticated on the method, else on the controller).
 */
function documentPermissions(app: INestApplication, doc: OpenAPIObject): void {
  const reflector = app.get(Reflector);
  for (const mod of app.get(ModulesContainer).values()) {
    for (const wrapper of mod.controllers.values()) {
      const ctrl = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!ctrl) continue;
      const base = String(Reflect.getMetadata(PATH_METADATA, ctrl) ?? '');
      for (const name of Object.getOwnPropertyNames(ctrl.prototype)) {
        const handler = (ctrl.prototype as Record<string, unknown>)[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        if (path === undefined) continue;
        const meta = reflector.getAllAndOverride<AuthMetadata | undefined>(AUTH_METADATA, [handler, ctrl]);
        if (!meta || meta.public || !meta.permission) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number].toLowerCase();
        const route = `/ipm/${base}/${path}`
          .replace(/\/+/g, '/')
          .replace(/\/$/, '')
          .replace(/:([A-Za-z_]+)/g, '{$1}');
        const op = doc.paths[route]?.[method as 'post'] as Record<string, unknown> | undefined;
        if (op) op[PERMISSION_EXTENSION] = meta.permission;
      }
    }
  }
}

/** Serves the UI at /docs and the document at /docs-json. */
export function setupOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    useGlobalPrefix: false,
    raw: ['json'],
  });
}
