import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_SCHEME, JWT_SCHEME } from '@ipm/auth';

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
  return SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controller, method) => `${controller.replace(/Controller$/, '')}_${method}`,
  });
}

/** Serves the UI at /docs and the document at /docs-json. */
export function setupOpenApi(app: INestApplication, buildId: string): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app, buildId), {
    jsonDocumentUrl: 'docs-json',
    useGlobalPrefix: false,
    raw: ['json'],
  });
}
