import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '@ipm/core';
import { connectRedis, type RedisClient } from '@ipm/redis';
import { BucketShape, GCRA_SCRIPT } from './gcra';

/** The two families of buckets: every route's, and publish's own (higher) pair. */
export type RateLimitClass = 'default' | 'publish';

/** Who a refusal was about: the caller's own bucket or its tenant's. */
export type RateLimitScope = 'caller' | 'tenant';

export interface RateLimitSubject {
  /** `api_key`, `user` or `system`, and its id: the caller's bucket. */
  kind: string;
  actorId: string;
  /** The tenant of a tenant route: its bucket; null on routes without a tenant. */
  orgcode: string | null;
  limitClass: RateLimitClass;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** The caller bucket's rate (requests per second), 0 when unlimited. */
  limit: number;
  /** Requests still admissible at once (the fuller bucket's view is irrelevant: the tighter one counts). */
  remaining: number;
  /** Refused: which bucket, and after how long a retry would be admitted. */
  scope?: RateLimitScope;
  retryAfterMs?: number;
}

/** Evaluates within this long or lets the request through: a slow or absent Redis never stalls the api. */
const COMMAND_TIMEOUT_MS = 250;
/** How long the api waits at start-up for the limiter's connection (a Redis Cluster takes a moment to map). */
const READY_WAIT_MS = 3000;
const WARN_EVERY_MS = 10_000;

type GcraClient = RedisClient & {
  ipmGcra(...args: Array<string | number>): Promise<[number, number, number, number]>;
};

/**
 * Redis-backed rate limits, shared by every api replica: one GCRA bucket per caller (API key or JWT subject)
 * and one per tenant, for the routes in general and a separate, higher pair for publish. Fails open: if Redis
 * cannot answer within {@link COMMAND_TIMEOUT_MS}, the request goes through (and a warning is logged at most
 * every ten seconds). Keys share the tenant's hash tag, so both buckets sit in one Redis Cluster slot.
 */
@Injectable()
export class RateLimiter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RateLimiter.name);
  private readonly redis: GcraClient;
  private readonly shapes: Record<RateLimitClass, { caller: BucketShape | null; tenant: BucketShape | null }>;
  private readonly rates: Record<RateLimitClass, number>;
  private lastWarning = 0;

  constructor(@Inject(AppConfig) private readonly config: AppConfig) {
    const shape = (rate: number): BucketShape | null => {
      if (rate <= 0) return null;
      const intervalUs = 1e6 / rate;
      return { intervalUs, capacityUs: Math.max(1, rate * config.RATE_LIMIT_BURST_SECONDS) * intervalUs };
    };
    this.shapes = {
      default: { caller: shape(config.RATE_LIMIT_PER_SECOND), tenant: shape(config.RATE_LIMIT_TENANT_PER_SECOND) },
      publish: {
        caller: shape(config.RATE_LIMIT_PUBLISH_PER_SECOND),
        tenant: shape(config.RATE_LIMIT_PUBLISH_TENANT_PER_SECOND),
      },
    };
    this.rates = { default: config.RATE_LIMIT_PER_SECOND, publish: config.RATE_LIMIT_PUBLISH_PER_SECOND };
    const redis = connectRedis(config, 'ipm-rate-limit', {
      // Fail fast instead of queueing while disconnected: the limiter must never hold a request up.
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // Concurrent requests' checks leave in one write (and their answers arrive in one read).
      enableAutoPipelining: true,
    });
    redis.on('error', () => undefined); // reconnects by itself; check() reports what matters
    redis.defineCommand('ipmGcra', { lua: GCRA_SCRIPT });
    this.redis = redis as GcraClient;
  }

  /** Takes one request from the subject's buckets, or says how long until it may. */
  async check(subject: RateLimitSubject): Promise<RateLimitDecision> {
    const shapes = this.shapes[subject.limitClass];
    const limit = this.rates[subject.limitClass];
    const keys: string[] = [];
    const args: number[] = [];
    const scopes: RateLimitScope[] = [];
    const tag = subject.orgcode === null ? `u:${actorKey(subject)}` : `t:${subject.orgcode}`;
    const base = `${this.config.QUEUE_PREFIX}:rl:{${tag}}:${subject.limitClass}`;
    if (shapes.caller) {
      keys.push(`${base}:c:${actorKey(subject)}`);
      args.push(shapes.caller.intervalUs, shapes.caller.capacityUs);
      scopes.push('caller');
    }
    if (shapes.tenant && subject.orgcode !== null) {
      keys.push(`${base}:t`);
      args.push(shapes.tenant.intervalUs, shapes.tenant.capacityUs);
      scopes.push('tenant');
    }
    if (keys.length === 0) return { allowed: true, limit, remaining: Number.MAX_SAFE_INTEGER };
    try {
      const [allowed, refusedBy, retryAfterUs, remaining] = await this.redis.ipmGcra(keys.length, ...keys, ...args);
      if (allowed === 1) return { allowed: true, limit, remaining };
      return {
        allowed: false,
        limit,
        remaining: 0,
        scope: scopes[refusedBy - 1],
        retryAfterMs: Math.max(1, Math.ceil(retryAfterUs / 1000)),
      };
    } catch (err) {
      const now = Date.now();
      if (now - this.lastWarning > WARN_EVERY_MS) {
        this.lastWarning = now;
        this.logger.warn(`rate limits not applied (Redis: ${err instanceof Error ? err.message : String(err)})`);
      }
      return { allowed: true, limit, remaining: 0 };
    }
  }

  /**
   * Waits (at most READY_WAIT_MS) for the connection before the api listens: with no offline queue, checks
   * made before it is ready would fail open. A Redis that is down does not stop the api from starting.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.redis.status === 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, READY_WAIT_MS);
      this.redis.once('ready', () => resolve());
    });
    clearTimeout(timer);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** The caller's part of a key: kind and id, hashed when long (a JWT `sub` is the issuer's to choose). */
function actorKey(subject: RateLimitSubject): string {
  const raw = `${subject.kind}:${subject.actorId}`;
  return raw.length <= 80 && /^[A-Za-z0-9_:.@-]+$/.test(raw)
    ? raw
    : `h:${createHash('sha256').update(raw).digest('base64url')}`;
}
