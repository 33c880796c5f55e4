import { LoggerService, RequestMethod, Type } from '@nestjs/common';
import { NestFactory, Reflector } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  AppConfig,
  createAppLogger,
  createValidationPipe,
  EnvelopeExceptionFilter,
  EnvelopeInterceptor,
  AppError,
  jsonDepth,
  MAX_JSON_DEPTH,
  loadConfig,
} from '@ipm/core';
import { registerUploadContentTypes } from '@ipm/bulk/api/upload-content-types';
import { ApiModule } from './api.module';
import { ApiMetrics } from './metrics';
import { setupOpenApi } from './openapi';

/**
 * Builds the api (not listening): Fastify, the /ipm prefix, the envelope on every response
 * (errors and unknown routes included: Nest routes Fastify's own errors, such as bad JSON or an
 * oversize body, through the global filter too), validation, and OpenAPI. main.ts and the e2e tests
 * both start from here.
 */
export interface ApiAppOptions {
  /** The root module (tests may wrap ApiModule to add their own pieces). */
  module?: Type<unknown>;
  /** A logger to use instead of Nest's console logger. */
  logger?: LoggerService;
}

export async function createApiApp(options: ApiAppOptions = {}): Promise<NestFastifyApplication> {
  const bootConfig = loadConfig(process.env); // fail fast, before Nest starts anything
  const adapter = new FastifyAdapter({
    bodyLimit: bootConfig.BODY_LIMIT_BYTES,
    trustProxy: true,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
  });
  const app = await NestFactory.create<NestFastifyApplication>(options.module ?? ApiModule, adapter, {
    logger: options.logger ?? createAppLogger(bootConfig),
    bufferLogs: false,
    // Fastify parses JSON itself (with bodyLimit); without this Nest would also accept form bodies.
    bodyParser: false,
  });
  const config = app.get(AppConfig);
  app.setGlobalPrefix('ipm', {
    exclude: [
      { path: 'health/live', method: RequestMethod.GET },
      { path: 'health/ready', method: RequestMethod.GET },
      { path: 'metrics', method: RequestMethod.GET },
    ],
  });
  app.useGlobalFilters(new EnvelopeExceptionFilter(config.BUILD_ID));
  app.useGlobalInterceptors(new EnvelopeInterceptor(app.get(Reflector), config.BUILD_ID));
  app.useGlobalPipes(createValidationPipe());
  const metrics = app.get(ApiMetrics);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', (req, reply, done) => {
      metrics.observe(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime);
      done();
    });
  // Refuse absurdly nested bodies before validation, idempotency or a service recurses into them.
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('preValidation', (req, _reply, done) => {
      done(
        jsonDepth(req.body) > MAX_JSON_DEPTH
          ? AppError.badRequest(`The body is nested deeper than ${MAX_JSON_DEPTH} levels`)
          : undefined,
      );
    });
  // The API speaks JSON only: anything else is a 415, not a string handed to validation.
  app.getHttpAdapter().getInstance().removeContentTypeParser('text/plain');
  // Except bulk uploads, which stream their raw body (that route only).
  registerUploadContentTypes(app.getHttpAdapter().getInstance());

  setupOpenApi(app, config.BUILD_ID);
  return app;
}
