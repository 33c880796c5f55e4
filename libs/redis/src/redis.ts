import IORedis, { Cluster, type RedisOptions } from 'ioredis';

/** Connection settings both ioredis and BullMQ accept. */
export interface RedisConnectionSettings {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: Record<string, never>;
  maxRetriesPerRequest: null;
  enableReadyCheck: boolean;
  /** Milliseconds before reconnect attempt `times` (1, 2, …). */
  retryStrategy: (times: number) => number;
}

/** The longest pause between two reconnect attempts. */
export const REDIS_RECONNECT_MAX_MS = 2000;

/**
 * Reconnect attempts every 200 ms, backing off to every REDIS_RECONNECT_MAX_MS. BullMQ's own default backs
 * off to 20 s: after a Redis restart of 20 s the workers then resumed up to 20 s late (measured by
 * `npm run chaos`); an attempt every 2 s costs a down Redis nothing.
 */
export function reconnectDelay(times: number): number {
  return Math.min(200 * Math.max(1, times), REDIS_RECONNECT_MAX_MS);
}

/**
 * ioredis options from a redis:// or rediss:// URL. `maxRetriesPerRequest: null` is what
 * BullMQ workers require (blocking commands must not give up).
 */
export function redisOptions(url: string): RedisConnectionSettings {
  const u = new URL(url);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: Number.isInteger(db) ? db : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: reconnectDelay,
  };
}

/** The configuration the Redis connections are made from. */
export interface RedisTarget {
  REDIS_URL: string;
  /** `host:port,host:port,…`: Redis Cluster seed nodes; empty = one server at REDIS_URL. */
  REDIS_CLUSTER_NODES: string;
  QUEUE_PREFIX: string;
}

/** A client of one server or of a cluster: both run the commands IPM sends. */
export type RedisClient = IORedis | Cluster;

/** The seed nodes of REDIS_CLUSTER_NODES (empty when not a cluster). */
export function clusterNodes(list: string): { host: string; port: number }[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const at = s.lastIndexOf(':');
      const port = Number(s.slice(at + 1));
      if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`REDIS_CLUSTER_NODES: "${s}" is not host:port`);
      }
      return { host: s.slice(0, at), port };
    });
}

/**
 * The BullMQ key prefix. On a cluster it is a hash tag, `{ipm}`, so that every key of every queue lands on
 * one slot: BullMQ's scripts touch several keys of a queue (and flows several queues) at once, which a
 * cluster allows only within one slot. On one server the prefix is left as it is (no key moves on upgrade).
 */
export function bullPrefix(target: RedisTarget): string {
  if (clusterNodes(target.REDIS_CLUSTER_NODES).length === 0 || target.QUEUE_PREFIX.includes('{')) {
    return target.QUEUE_PREFIX;
  }
  return `{${target.QUEUE_PREFIX}}`;
}

/** Per-connection options the callers override (the rate limiter fails fast, for one). */
export type RedisOverrides = Partial<Pick<RedisOptions, 'maxRetriesPerRequest' | 'commandTimeout'>> & {
  enableOfflineQueue?: boolean;
  enableAutoPipelining?: boolean;
};

/**
 * A connection to REDIS_URL, or, when REDIS_CLUSTER_NODES is set, an ioredis Cluster of those seed nodes
 * (credentials and TLS from REDIS_URL; the cluster finds its other nodes itself).
 */
export function connectRedis(target: RedisTarget, name: string, overrides: RedisOverrides = {}): RedisClient {
  const { enableOfflineQueue = true, enableAutoPipelining = false, ...perNode } = overrides;
  const nodes = clusterNodes(target.REDIS_CLUSTER_NODES);
  const base = { ...redisOptions(target.REDIS_URL), connectionName: name, ...perNode };
  if (nodes.length === 0) {
    return new IORedis({ ...base, enableOfflineQueue, enableAutoPipelining, lazyConnect: false });
  }
  // A cluster has no databases but 0, and finds its nodes itself: the URL gives credentials and TLS only.
  const { retryStrategy, username, password, tls, maxRetriesPerRequest, enableReadyCheck, commandTimeout } = base;
  return new Cluster(nodes, {
    redisOptions: {
      username,
      password,
      tls,
      maxRetriesPerRequest,
      enableReadyCheck,
      connectionName: name,
      commandTimeout,
    },
    clusterRetryStrategy: retryStrategy,
    enableOfflineQueue,
    enableAutoPipelining,
    enableReadyCheck,
    lazyConnect: false,
  });
}
