import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { Logger, LoggerService, Type } from '@nestjs/common';
import { NestFactory, Reflector } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Logger as PinoNestLogger, PinoLogger } from 'nestjs-pino';
import {
  AppConfig,
  createValidationPipe,
  envelopeClientErrorHandler,
  EnvelopeExceptionFilter,
  EnvelopeInterceptor,
  AppError,
  ErrorCode,
  inspectJson,
  MAX_JSON_DEPTH,
  loadConfig,
  REQUEST_ID_HEADER,
  requestIdOf,
  requestLogLevel,
  requestLogLine,
  sendError,
} from '@ipm/core';
import { ApiModule } from './api.module';
import { ApiMetrics } from './metrics';
import { API_PREFIX, API_PREFIX_EXCLUDE, setupOpenApi } from './openapi';

/**
 * Builds the api (not listening): Fastify, the /ipm prefix, the envelope on every response
 * (errors and unknown routes included: Nest routes Fastify's own errors, such as bad JSON or an
 * oversize body, through the global filter too), validation, and OpenAPI. main.ts and the e2e tests
 * both start from here.
 */
export interface ApiAppOptions {
  /** The root module (tests may wrap ApiModule to add their own pieces). */
  module?: Type<unknown>;
  /** A logger for Nest's records instead of pino's (request lines still go to pino). */
  logger?: LoggerService;
}

/** Fastify's router errors in our words (the path is what they are about). */
function routerError(err: FastifyError): Error {
  if (err.code === 'FST_ERR_BAD_URL')
    return AppError.badRequest('The URL path is not valid percent-encoded UTF-8', 'path');
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') return new AppError(414, 'uri_too_long', 'A path parameter is too long');
  return err;
}

/** Whether `text` is JSON at all (asked only of a body the safe parser refused). */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const PUBLISH_ROUTE = '/ipm/event/publish';
const isEventPayload = (path: string): boolean => /^events\.\d+\.payload$/.test(path);
const isStream = (body: object): boolean =>
  Buffer.isBuffer(body) || typeof (body as { pipe?: unknown }).pipe === 'function';

export async function createApiApp(options: ApiAppOptions = {}): Promise<NestFastifyApplication> {
  const bootConfig = loadConfig(process.env); // fail fast, before Nest starts anything
  const adapter = new FastifyAdapter({
    bodyLimit: bootConfig.BODY_LIMIT_BYTES,
    trustProxy: true,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
    // The request id: the caller's x-request-id when it is acceptable, else a new UUID (echoed below).
    requestIdHeader: false,
    genReqId: (raw: IncomingMessage) => requestIdOf(raw.headers[REQUEST_ID_HEADER]),
    // Errors Fastify's router raises before any route runs (a URL that does not decode, a path
    // parameter past maxParamLength): the envelope too, not Fastify's own error body.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) =>
      sendError(routerError(err), req, reply, bootConfig.BUILD_ID, new Logger('HTTP')),
    // What Node's parser refuses before Fastify sees a request (headers past maxHeaderSize: 431, a
    // timeout: 408, not HTTP: 400): the envelope too, written to the socket.
    clientErrorHandler: envelopeClientErrorHandler(bootConfig.BUILD_ID),
  });
  const app = await NestFactory.create<NestFastifyApplication>(options.module ?? ApiModule, adapter, {
    logger: options.logger,
    // Until pino is the logger (below), Nest's records wait in a buffer.
    bufferLogs: options.logger === undefined,
    // Fastify parses JSON itself (with bodyLimit); without this Nest would also accept form bodies.
    bodyParser: false,
  });
  if (options.logger === undefined) app.useLogger(app.get(PinoNestLogger));
  const config = app.get(AppConfig);
  app.setGlobalPrefix(API_PREFIX, { exclude: API_PREFIX_EXCLUDE });
  app.useGlobalFilters(new EnvelopeExceptionFilter(config.BUILD_ID));
  app.useGlobalInterceptors(new EnvelopeInterceptor(app.get(Reflector), config.BUILD_ID));
  app.useGlobalPipes(createValidationPipe());
  const metrics = app.get(ApiMetrics);
  const fastify = app.getHttpAdapter().getInstance();
  // Every response carries its request id (so do its log line and, for a 5xx, its error line). Not bound
  // to every record of the request through AsyncLocalStorage: on Node 20 that costs about a quarter of
  // the throughput of a light route (measured: /ipm/stat 6,300 against 8,050 req/s).
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, req.id);
    done();
  });
  // Every response, unknown routes and framework errors included: its latency metric and its log line.
  fastify.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? null;
    metrics.observe(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime);
    const log = config.LOG_REQUESTS ? PinoLogger.root : undefined;
    const level = requestLogLevel(route, reply.statusCode);
    if (log?.isLevelEnabled(level)) {
      const line = requestLogLine(
        {
          requestId: req.id,
          method: req.method,
          route,
          url: req.url,
          status: reply.statusCode,
          durationMs: reply.elapsedTime,
          tenant: req.caller?.orgcode ?? null,
          appId: req.principal?.app_id ?? null,
        },
        level,
      );
      log[level](line.fields, line.msg);
    }
    done();
  });
  // JSON bodies must be UTF-8: Fastify's own parser decodes with replacement, so invalid bytes would
  // silently become U+FFFD. Check the bytes (one native pass), then parse as Fastify does.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    if (!isUtf8(body)) {
      done(AppError.badRequest('The body is not valid UTF-8 (invalid_utf8)', 'body'), undefined);
      return;
    }
    // Its errors (empty, malformed) as 400s that name the body, like every other validation error.
    const text = body.toString('utf8');
    void parseJson(req, text, (err: Error | null, value?: unknown) => {
      if (!err) return done(null, value);
      const empty = (err as { code?: string }).code === 'FST_ERR_CTP_EMPTY_JSON_BODY';
      // JSON that the parser still refused holds a `__proto__` (or constructor.prototype) key: say so.
      const proto = !empty && isJson(text);
      done(
        AppError.badRequest(
          empty
            ? 'Body must not be empty when Content-Type is application/json'
            : proto
              ? 'The keys __proto__, prototype and constructor are not accepted anywhere in a body'
              : 'Malformed JSON body',
          'body',
        ),
        undefined,
      );
    });
  });
  // Before validation, idempotency or a service recurses into the body: it must be an object (an
  // empty POST is one), nested at most MAX_JSON_DEPTH levels, and its text storable (no NUL, no
  // unpaired surrogate); event payloads are checked per item by /event/publish instead.
  fastify.addHook('preValidation', (req, _reply, done) => {
    const body: unknown = req.body;
    if (body === undefined) return done();
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return done(AppError.badRequest('The body must be a JSON object', 'body'));
    }
    if (isStream(body)) return done();
    const problem = inspectJson(
      body,
      MAX_JSON_DEPTH,
      req.routeOptions.url === PUBLISH_ROUTE ? isEventPayload : undefined,
    );
    if (!problem) return done();
    done(
      problem.tooLarge
        ? new AppError(413, ErrorCode.PayloadTooLarge, problem.message, [{ field: 'body', message: problem.message }])
        : AppError.badRequest(problem.message, problem.field),
    );
  });
  // The API speaks JSON only: anything else is a 415, not a string handed to validation.
  app.getHttpAdapter().getInstance().removeContentTypeParser('text/plain');
  // (A feature module may register its own raw types for its routes at init: bulk uploads do.)

  setupOpenApi(app);
  return app;
}
