import IORedis from 'ioredis';

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
  };
}

export function createRedis(url: string, name: string): IORedis {
  return new IORedis({ ...redisOptions(url), connectionName: name, lazyConnect: false });
}
