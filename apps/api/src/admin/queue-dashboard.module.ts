import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import { getQueueToken } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig, AppError, sendError } from '@ipm/core';
import { firstHeader } from '@ipm/auth';
import { ALL_QUEUES } from '@ipm/queues';
import { DashboardAccess } from './dashboard-access';
import {
  clearSessionCookie,
  crossOriginWrite,
  DASHBOARD_PATH,
  extractCredential,
  looksLikeJwt,
  normalizePastedToken,
  SECURITY_HEADERS,
  sessionCookie,
  sessionSeconds,
  wantsHtml,
} from './dashboard-http';
import { forbiddenPage, loginPage } from './dashboard-pages';

/** The api's own Queue instances (QueuesModule's: its connection and prefix, a cluster's hash tag included). */
export const DASHBOARD_QUEUES = Symbol('DASHBOARD_QUEUES');

/** The login form's body: a pasted token is short; anything bigger is not one. */
const LOGIN_BODY_LIMIT = 16 * 1024;

const pathOf = (req: FastifyRequest): string => req.url.split('?', 1)[0];
const isHttps = (req: FastifyRequest): boolean => req.protocol === 'https';

/**
 * Bull Board at /admin/queues, for operators. Registered straight on the api's Fastify instance (not
 * through @bull-board/nestjs, whose Nest middleware would guard only the exact mount path): one
 * encapsulated Fastify scope holds the board's page, static files, JSON API and its not-found answer,
 * and that scope's onRequest hook checks every request before any of them runs. A sibling scope holds
 * the login and logout routes (the only ones open without credentials) and the one form-body parser
 * the api has, scoped to those two routes.
 */
@Injectable()
export class QueueDashboard implements OnModuleInit {
  private readonly logger = new Logger('QueueDashboard');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly access: DashboardAccess,
    private readonly config: AppConfig,
    @Inject(DASHBOARD_QUEUES) private readonly queues: Queue[],
  ) {}

  onModuleInit(): void {
    const board = new BullBoardFastifyAdapter();
    board.setBasePath(DASHBOARD_PATH);
    createBullBoard({
      queues: this.queues.map((queue) => new BullMQAdapter(queue)),
      serverAdapter: board,
      options: { uiConfig: { boardTitle: 'IPM queues' } },
    });
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    void fastify.register(
      (dashboard, _opts, done) => {
        dashboard.addHook('onRequest', (_req, reply, next) => {
          for (const [name, value] of Object.entries(SECURITY_HEADERS)) void reply.header(name, value);
          next();
        });
        void dashboard.register((session, _o, ready) => {
          this.sessionRoutes(session);
          ready();
        });
        void dashboard.register((guarded, _o, ready) => {
          guarded.addHook('onRequest', (req, reply) => this.guard(req, reply));
          // Operators' changes (pause, clean, retry, obliterate, …) touch every tenant: say who made them.
          guarded.addHook('onResponse', (req, reply, next) => {
            if (req.principal && req.method !== 'GET' && req.method !== 'HEAD') {
              this.logger.log(
                `queue dashboard: ${req.principal.actor_id} ${req.method} ${pathOf(req)} -> ${reply.statusCode}`,
              );
            }
            next();
          });
          // Unknown paths under the prefix are checked too, then answered 404 in the envelope.
          guarded.setNotFoundHandler((req, reply) => {
            sendError(
              AppError.notFound(`Route ${req.method} ${pathOf(req)}`),
              req,
              reply,
              this.config.BUILD_ID,
              this.logger,
            );
          });
          void guarded.register(board.registerPlugin());
          ready();
        });
        done();
      },
      { prefix: DASHBOARD_PATH },
    );
  }

  /** Every request to the board: a JWT with operate_queues, or a refusal (HTML for a browser, else the envelope). */
  private async guard(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const credential = extractCredential(req.headers);
    const decision = await this.access.decide(credential);
    if (!decision.allowed) return this.refuse(req, reply, decision.error, decision.clearCookie);
    if (
      credential.kind === 'jwt' &&
      credential.source === 'cookie' &&
      crossOriginWrite(req.method, firstHeader(req.headers, 'sec-fetch-site'))
    ) {
      return this.refuse(req, reply, AppError.forbidden('Cross-origin requests to the queue dashboard are refused'));
    }
    req.principal = decision.principal;
    return undefined;
  }

  private refuse(req: FastifyRequest, reply: FastifyReply, error: AppError, clearCookie = false): FastifyReply {
    if (clearCookie) void reply.header('set-cookie', clearSessionCookie(isHttps(req)));
    if (error.status === 401) void reply.header('www-authenticate', 'Bearer realm="ipm-queue-dashboard"');
    if (wantsHtml(req.method, pathOf(req), firstHeader(req.headers, 'accept'))) {
      const problem = clearCookie ? `Your session has ended (${error.message}): log in again` : undefined;
      const html = error.status === 401 ? loginPage(problem) : forbiddenPage(error.message);
      return reply.code(error.status).type('text/html; charset=utf-8').send(html);
    }
    sendError(error, req, reply, this.config.BUILD_ID, this.logger);
    return reply;
  }

  /** POST /login (a pasted token: verified, then kept in the session cookie) and /logout. */
  private sessionRoutes(session: FastifyInstance): void {
    session.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: LOGIN_BODY_LIMIT },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    const html = (reply: FastifyReply, status: number, page: string): FastifyReply =>
      reply.code(status).type('text/html; charset=utf-8').send(page);
    const toDashboard = (reply: FastifyReply): FastifyReply =>
      reply.code(303).header('location', DASHBOARD_PATH).send();

    session.post('/login', async (req, reply) => {
      if (crossOriginWrite(req.method, firstHeader(req.headers, 'sec-fetch-site'))) {
        return html(
          reply,
          403,
          forbiddenPage('Log in from the dashboard page itself: cross-origin logins are refused'),
        );
      }
      const token = normalizePastedToken((req.body as { token?: unknown } | undefined)?.token);
      if (!token) return html(reply, 401, loginPage('Paste a JWT to log in'));
      if (!looksLikeJwt(token)) {
        return html(reply, 401, loginPage('That is not a JWT (three base64url parts separated by dots)'));
      }
      const decision = await this.access.verifyJwt(token);
      if (!decision.allowed) {
        const { status, message } = decision.error;
        return html(reply, status, status === 401 ? loginPage(`Token refused: ${message}`) : forbiddenPage(message));
      }
      const maxAge = sessionSeconds(this.access.expiry(token), Date.now());
      if (maxAge <= 0) return html(reply, 401, loginPage('Token refused: Token expired'));
      void reply.header('set-cookie', sessionCookie(token, { maxAge, secure: isHttps(req) }));
      return toDashboard(reply);
    });
    // A reload of the page a failed login left: back to the form.
    session.get('/login', (_req, reply) => toDashboard(reply));
    session.route({
      method: ['GET', 'POST'],
      url: '/logout',
      handler: (req, reply) => toDashboard(reply.header('set-cookie', clearSessionCookie(isHttps(req)))),
    });
  }
}

/** The queue dashboard (Bull Board) at /admin/queues, over the queues QueuesModule registers. */
@Module({
  providers: [
    DashboardAccess,
    QueueDashboard,
    {
      provide: DASHBOARD_QUEUES,
      inject: ALL_QUEUES.map((name) => getQueueToken(name)),
      useFactory: (...queues: Queue[]): Queue[] => queues,
    },
  ],
})
export class QueueDashboardModule {}
