import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import { AppConfig, AppError, envelopeMeta, ErrorCode, sendError, successEnvelope } from '@ipm/core';
import { HealthService } from '@ipm/health';
import { WorkerMetrics } from './worker-metrics';

/** All interfaces: the worker has no WORKER_HOST setting, and probes come from outside the container. */
const LISTEN_HOST = '0.0.0.0';

/**
 * The worker's own small HTTP server on WORKER_PORT (plain Fastify: the worker is not a Nest
 * HTTP app): /health/live, /health/ready in the api's envelope, and /metrics for Prometheus.
 * It closes after the queues have drained, so that probes and scrapes keep answering meanwhile.
 */
@Injectable()
export class WorkerHttpServer implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('WorkerHttp');
  private readonly server: FastifyInstance;
  private shuttingDown = false;

  constructor(
    private readonly config: AppConfig,
    private readonly health: HealthService,
    private readonly metrics: WorkerMetrics,
  ) {
    this.server = fastify({ logger: false });
    this.routes(this.server);
  }

  /** The port actually bound (WORKER_PORT=0 picks a free one). */
  get port(): number {
    return (this.server.server.address() as AddressInfo).port;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.server.listen({ port: this.config.WORKER_PORT, host: LISTEN_HOST });
    this.logger.log(`worker listening on http://${LISTEN_HOST}:${this.port} (build ${this.config.BUILD_ID})`);
  }

  /** Nest runs this hook for the root module (this one) before the queues drain in QueuesWorkerModule: not ready from now on. */
  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server.close();
  }

  private routes(server: FastifyInstance): void {
    const buildId = this.config.BUILD_ID;
    const ok = (req: FastifyRequest, reply: FastifyReply, data: unknown): FastifyReply =>
      reply.status(200).send(successEnvelope(data, envelopeMeta(buildId, req.method, req.url)));

    server.get('/health/live', async (req, reply) => ok(req, reply, await this.health.live()));
    server.get('/health/ready', async (req, reply) => {
      if (this.shuttingDown) {
        throw new AppError(503, ErrorCode.Unavailable, 'The worker is shutting down');
      }
      return ok(req, reply, await this.health.ready());
    });
    server.get('/metrics', async (_req, reply) =>
      reply
        .status(200)
        .header('content-type', this.metrics.contentType)
        .send(await this.metrics.metrics()),
    );

    server.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?', 1)[0];
      sendError(
        new AppError(404, ErrorCode.NotFound, `No route ${req.method} ${path}`),
        req,
        reply,
        buildId,
        this.logger,
      );
    });
    server.setErrorHandler((err, req, reply) => sendError(err, req, reply, buildId, this.logger));
  }
}
