import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';
import { isValidCidr } from '../net/cidr';

/** Development-only defaults: refused when IPM_ENV=production. */
export const DEV_JWT_SECRET = 'ipm-dev-jwt-secret-change-me-0123456789';
export const DEV_SECRETS_KEY = 'k1:ZGV2LXNlY3JldHMta2V5LWNoYW5nZS1tZS0wMTIzNDU=';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

/**
 * The one configuration schema. Environment variables are read here and nowhere else
 * (see loadConfig); every other module takes a typed AppConfig.
 */
export class AppConfig {
  @IsIn(['development', 'production'])
  IPM_ENV: 'development' | 'production' = 'development';

  @Transform(trim)
  @IsUrl({ protocols: ['postgres', 'postgresql'], require_tld: false, require_protocol: true })
  DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/ipm';

  @Transform(trim)
  @IsUrl({ protocols: ['redis', 'rediss'], require_tld: false, require_protocol: true })
  REDIS_URL = 'redis://127.0.0.1:6379';

  /**
   * Redis Cluster seed nodes, `host:port` comma separated; empty = one Redis server (REDIS_URL). When set,
   * REDIS_URL gives only the credentials and TLS, and BullMQ keys are hash-tagged: `{QUEUE_PREFIX}:…`.
   */
  @Transform(trim)
  @Matches(/^$|^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/, {
    message: 'REDIS_CLUSTER_NODES must be empty or "host:port" comma separated',
  })
  REDIS_CLUSTER_NODES = '';

  /** BullMQ key prefix: lets several deployments (or test runs) share one Redis. */
  @Transform(trim)
  @Matches(/^[A-Za-z0-9:_-]{1,64}$/, { message: 'QUEUE_PREFIX must be 1-64 of A-Z a-z 0-9 : _ -' })
  QUEUE_PREFIX = 'ipm';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  API_PORT = 3000;

  @Transform(trim)
  @IsString()
  API_HOST = '0.0.0.0';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  WORKER_PORT = 3001;

  @IsIn(['HS256', 'RS256'])
  JWT_ALGORITHM: 'HS256' | 'RS256' = 'HS256';

  @IsString()
  @MinLength(32, { message: 'JWT_SECRET must be at least 32 characters' })
  JWT_SECRET = DEV_JWT_SECRET;

  /** RS256: a PEM public key (SPKI), or JWT_JWKS_URL. */
  @IsOptional()
  @IsString()
  @Matches(/-----BEGIN PUBLIC KEY-----/, { message: 'JWT_PUBLIC_KEY must be a PEM (SPKI) public key' })
  JWT_PUBLIC_KEY?: string;

  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  JWT_JWKS_URL?: string;

  @Transform(trim)
  @IsString()
  @MinLength(1)
  JWT_AUDIENCE = 'ipm';

  @IsOptional()
  @IsString()
  JWT_ISSUER?: string;

  /**
   * Secret-encryption keys, `<key_id>:<base64 of 32 bytes>`, comma separated. The first
   * encrypts; all decrypt, so a key can be rotated without re-encrypting at once.
   */
  @Transform(trim)
  @Matches(/^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9+/]{43}=(,[A-Za-z0-9_-]{1,16}:[A-Za-z0-9+/]{43}=)*$/, {
    message: 'SECRETS_KEY must be "<key_id>:<base64 of 32 bytes>" (comma-separated for rotation)',
  })
  SECRETS_KEY = DEV_SECRETS_KEY;

  @Transform(trim)
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, { message: 'BUILD_ID must be 1-64 of A-Z a-z 0-9 . _ : -' })
  BUILD_ID = 'dev-local';

  /** CIDRs of private ranges webhooks may target (comma separated); empty = none. */
  @Transform(trim)
  @IsString()
  WEBHOOK_TARGET_ALLOWLIST = '';

  /** Refuse plain-http webhook endpoints. */
  @Transform(({ value }: { value: unknown }) =>
    value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value,
  )
  @IsBoolean({ message: 'WEBHOOK_REQUIRE_HTTPS must be true or false' })
  WEBHOOK_REQUIRE_HTTPS = false;

  /** Webhooks one tenant may have (not counting deleted ones); one more is a 422. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  WEBHOOK_MAX_PER_TENANT = 1000;

  /** Consecutive failed delivery attempts after which a webhook is paused (per-webhook override: retry_policy.auto_pause_after). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  WEBHOOK_AUTO_PAUSE_FAILURES = 50;

  /** Deliveries one worker process sends to one webhook endpoint at a time; the excess waits in the queue. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT = 16;

  /** Concurrent jobs per worker process on the `delivery` queue (first attempts). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(2000)
  DELIVERY_CONCURRENCY = 256;

  /** BullMQ workers on the `delivery` queue per process, sharing DELIVERY_CONCURRENCY: each fetches jobs in sequence. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(32)
  DELIVERY_FETCHERS = 4;

  /** Concurrent jobs per worker process on the `retry` queue (later attempts). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(2000)
  RETRY_CONCURRENCY = 64;

  /** Concurrent jobs per worker process on the `replay` queue (window replays). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  REPLAY_CONCURRENCY = 2;

  /** Concurrent jobs per worker process on the `bulk` queue (imports and exports). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  BULK_CONCURRENCY = 2;

  /**
   * Threads per process that validate against tenants' JSON Schemas (api: publish and catalog upserts; worker:
   * imports), off the event loop.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(16)
  SCHEMA_VALIDATION_THREADS = 2;

  /** Milliseconds one validation against a tenant's schema may run before it is cut off (a 422). */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(10_000)
  SCHEMA_VALIDATION_DEADLINE_MS = 50;

  /** Concurrent jobs per worker process on the `maintenance` queue (housekeeping). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  MAINTENANCE_CONCURRENCY = 1;

  /**
   * The queues this worker process consumes, comma-separated (default: all). The outbox relay runs only
   * where `delivery` is served; the sweeper runs in every worker (one at a time, elected by a lock).
   */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.replace(/\s+/g, '') : value))
  @Matches(/^(delivery|retry|replay|bulk|maintenance)(,(delivery|retry|replay|bulk|maintenance))*$/, {
    message: 'WORKER_QUEUES must be a comma-separated list of: delivery, retry, replay, bulk, maintenance',
  })
  WORKER_QUEUES = 'delivery,retry,replay,bulk,maintenance';

  /** Finished deliveries and their attempts older than this are deleted by the retention job. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  DELIVERY_RETENTION_DAYS = 30;

  /**
   * How often the outbox relay looks for new events when the last look found none. A commit that stores
   * events wakes it at once (NOTIFY), so this only bounds the delay when a notification is lost.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  RELAY_POLL_MS = 200;

  /** How often the sweeper looks for due deliveries that no queue holds. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  SWEEPER_INTERVAL_MS = 30_000;

  /** A delivery is the sweeper's only once it has been due (or in flight) this long without a queue holding it. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  SWEEPER_GRACE_MS = 60_000;

  /** How long `/webhook/verify` waits for the endpoint to echo its challenge. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(120_000)
  WEBHOOK_VERIFY_TIMEOUT_MS = 30_000;

  /** Largest bulk import upload, in bytes (above: 413). */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024 * 1024)
  BULK_UPLOAD_MAX_BYTES = 1024 * 1024 * 1024;

  /** How long a bulk job's files (upload, export, report) are kept after it ends; then the job is `expired`. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(365)
  BULK_FILE_TTL_DAYS = 7;

  /** How long an upload URL (and a download or report URL) is valid. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(7 * 24 * 60)
  BULK_URL_TTL_MINUTES = 60;

  /** Lines (import) or rows (export) per chunk; each chunk and its checkpoint commit in one transaction. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  BULK_CHUNK_LINES = 2000;

  /** An import chunk also ends once its lines hold this many bytes, so long lines never make a huge chunk. */
  @Transform(toInt)
  @IsInt()
  @Min(64 * 1024)
  @Max(256 * 1024 * 1024)
  BULK_CHUNK_BYTES = 4 * 1024 * 1024;

  /** BullMQ job lock: a job whose worker died (SIGKILL) is handed to another worker after about this long. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600_000)
  QUEUE_LOCK_MS = 30_000;

  /** A KPI alert breached again within this many minutes of its last `ipm.kpi.alert` is not notified again (0: always). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(7 * 24 * 60)
  KPI_ALERT_COOLDOWN_MINUTES = 60;

  @IsIn(['fatal', 'error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  /** `json` (pino: one object per line, for log shippers) or `text` (the same records, pretty-printed for people). */
  @IsIn(['text', 'json'])
  LOG_FORMAT: 'text' | 'json' = 'json';

  /**
   * More property names whose values are masked (`[REDACTED]`) at any depth of every log record,
   * comma-separated, case-insensitive: added to the built-in ones (authorization, secret, token, key...).
   */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.replace(/\s+/g, '') : value))
  @Matches(/^([A-Za-z0-9_.-]{1,64}(,[A-Za-z0-9_.-]{1,64}){0,63})?$/, {
    message: 'LOG_REDACT_KEYS must be a comma-separated list of property names (letters, digits, _ . -)',
  })
  LOG_REDACT_KEYS = '';

  /** Log one line per HTTP request on the api (request id, route, status, duration, tenant), at `log` (info) level. */
  @Transform(({ value }: { value: unknown }) =>
    value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value,
  )
  @IsBoolean({ message: 'LOG_REQUESTS must be true or false' })
  LOG_REQUESTS = true;

  /** Largest accepted request body, in bytes (above: 413). */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  BODY_LIMIT_BYTES = 1024 * 1024;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(24 * 7)
  IDEMPOTENCY_TTL_HOURS = 24;

  /**
   * An Idempotency-Key still in progress after this many seconds is taken as abandoned (its request
   * died with the database or the process): the next retry with it runs the request again. Longer
   * than any request runs.
   */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(3600)
  IDEMPOTENCY_LEASE_SECONDS = 60;

  /** How long the worker waits for in-flight jobs on SIGTERM before giving up. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600_000)
  SHUTDOWN_TIMEOUT_MS = 30_000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  DATABASE_POOL_SIZE = 10;

  /**
   * Rate limits (requests per second, Redis-backed so that every api replica shares them; 0 = no limit).
   * Each caller (API key, or JWT subject) and each tenant has a bucket; the publish route has its own pair.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PER_SECOND = 100;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_TENANT_PER_SECOND = 250;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PUBLISH_PER_SECOND = 500;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PUBLISH_TENANT_PER_SECOND = 1000;

  /** A bucket holds this many seconds of its rate: the burst a quiet caller may send at once. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  RATE_LIMIT_BURST_SECONDS = 2;

  get allowlist(): string[] {
    return this.WEBHOOK_TARGET_ALLOWLIST.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const KNOWN_KEYS = Object.keys(new AppConfig());

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map((msg) => (msg.startsWith(e.property) ? msg : `${e.property}: ${msg}`)),
  );
}

/**
 * Builds the typed configuration from an environment map. Unset or empty variables take
 * their defaults; a bad value throws a ConfigError naming the variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv): AppConfig {
  const raw: Record<string, string> = {};
  for (const key of KNOWN_KEYS) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const config = plainToInstance(AppConfig, raw);
  const problems = describe(validateSync(config, { forbidUnknownValues: false }));
  for (const cidr of config.allowlist) {
    if (!isValidCidr(cidr)) problems.push(`WEBHOOK_TARGET_ALLOWLIST: "${cidr}" is not a valid CIDR`);
  }
  if (config.JWT_ALGORITHM === 'RS256' && !config.JWT_PUBLIC_KEY && !config.JWT_JWKS_URL) {
    problems.push('JWT_PUBLIC_KEY or JWT_JWKS_URL: one is required when JWT_ALGORITHM=RS256');
  }
  if (config.IPM_ENV === 'production') {
    if (config.JWT_SECRET === DEV_JWT_SECRET && config.JWT_ALGORITHM === 'HS256') {
      problems.push('JWT_SECRET: the development default is refused when IPM_ENV=production');
    }
    if (config.SECRETS_KEY.split(',').includes(DEV_SECRETS_KEY)) {
      problems.push('SECRETS_KEY: the development default is refused when IPM_ENV=production');
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(config);
}
