import { RequestMethod, type INestApplication } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer, Reflector } from '@nestjs/core';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_SCHEME, AUTH_METADATA, AuthMetadata, JWT_SCHEME } from '@ipm/auth';

/** The extension naming the permission a route needs (what the global guard enforces: 403 without it). */
export const PERMISSION_EXTENSION = 'x-required-permission';

export function buildOpenApiDocument(app: INestApplication, buildId: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('IPM API')
    .setDescription(
      'Multi-tenant integration platform: signed webhooks, event store and change feed, bulk jobs, KPIs, catalog. ' +
        'Every response is an envelope { success, data | error, build, stats }. Tenant routes need the x-orgcode header.',
    )
    .setVersion(buildId)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, JWT_SCHEME)
    .addApiKey({ type: 'apiKey', in: 'header', name: 'x-api-key' }, API_KEY_SCHEME)
    .build();
  const doc = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controller, method) => `${controller.replace(/Controller$/, '')}_${method}`,
  });
  documentPermissions(app, doc);
  return doc;
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
export function setupOpenApi(app: INestApplication, buildId: string): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app, buildId), {
    jsonDocumentUrl: 'docs-json',
    useGlobalPrefix: false,
    raw: ['json'],
  });
}
