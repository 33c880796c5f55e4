import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { AppConfig, loadConfig } from '@ipm/core';

/**
 * Issue 10, point 5: docker-compose.yml and the Dockerfile, read as an operator's tools would read them,
 * agree with the configuration schema and the apps: no Docker engine needed.
 */
const root = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

interface Healthcheck {
  test: string[] | string;
}
interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  expose?: Array<string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: Healthcheck;
}
interface Compose {
  services: Record<string, Service>;
}

/** `${VAR:-default}` / `${VAR-default}` / `${VAR}` as compose substitutes them from an empty host environment. */
function interpolate(value: string): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g,
    (_m, _name: string, fallback?: string) => fallback ?? '',
  );
}

/** A service's environment, interpolated, as process.env would see it. */
function envOf(service: Service): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([k, v]) => [k, v === null ? '' : interpolate(String(v))]),
  );
}

const asArray = (cmd: string[] | string | undefined): string[] =>
  Array.isArray(cmd) ? cmd : (cmd ?? '').split(/\s+/).filter(Boolean);

/** The URL a `node -e "fetch(...)"` healthcheck requests. */
function healthUrl(check: Healthcheck | undefined): URL {
  const text = asArray(check?.test).join(' ');
  const match = /https?:\/\/[^'"\s)]+/.exec(text);
  if (!match) throw new Error(`no URL in healthcheck: ${text}`);
  return new URL(match[0]);
}

describe('docker-compose.yml and Dockerfile', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
  const { services } = compose;
  const knownKeys = new Set(Object.keys(new AppConfig()));
  const openapi = JSON.parse(read('openapi.json')) as { paths: Record<string, Record<string, unknown>> };
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

  it('has postgres, redis, a one-shot migrate, api and worker', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'migrate', 'postgres', 'redis', 'worker']);
    for (const app of ['migrate', 'api', 'worker']) expect(services[app].build).toBe('.');
  });

  it.each(['migrate', 'api', 'worker'])(
    '%s: every variable is in the config schema and the values validate',
    (name) => {
      const env = envOf(services[name]);
      expect(Object.keys(env).filter((key) => !knownKeys.has(key))).toEqual([]);
      const config = loadConfig(env);
      // It reaches the other services by their compose names.
      expect(new URL(config.DATABASE_URL).hostname).toBe('postgres');
      expect(new URL(config.REDIS_URL).hostname).toBe('redis');
      expect(new URL(config.DATABASE_URL).port).toBe('5432');
      expect(new URL(config.REDIS_URL).port).toBe('6379');
    },
  );

  it('api: runs dist main.js, publishes API_PORT, its healthcheck is /health/ready on API_PORT', () => {
    const api = services.api;
    const config = loadConfig(envOf(api));
    expect(asArray(api.command)).toEqual(['node', 'dist/apps/api/main.js']);
    expect(api.ports?.map((p) => Number(p.split(':').pop()))).toEqual([config.API_PORT]);
    const url = healthUrl(api.healthcheck);
    expect({ port: Number(url.port), path: url.pathname }).toEqual({ port: config.API_PORT, path: '/health/ready' });
    // A route the api really has (the generated document lists it).
    expect(openapi.paths['/health/ready']?.get).toBeDefined();
  });

  it("worker: runs dist main.js with start:worker's node flags, its healthcheck is /health/ready on WORKER_PORT", () => {
    const worker = services.worker;
    const config = loadConfig(envOf(worker));
    expect(asArray(worker.command)).toEqual(asArray(scripts['start:worker']));
    expect(asArray(worker.command)).toContain('dist/apps/worker/main.js');
    expect((worker.expose ?? []).map(Number)).toEqual([config.WORKER_PORT]);
    // Not published: several replicas (`--scale worker=3`) would clash on a host port.
    expect(worker.ports).toBeUndefined();
    const url = healthUrl(worker.healthcheck);
    expect({ port: Number(url.port), path: url.pathname }).toEqual({
      port: config.WORKER_PORT,
      path: '/health/ready',
    });
  });

  it('migrate runs the cli once; api and worker start after it succeeds and once their dependencies are healthy', () => {
    expect(asArray(services.migrate.command)).toEqual(['node', 'dist/apps/cli/main.js', 'migrate']);
    expect(services.migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const app of ['api', 'worker']) {
      expect(services[app].depends_on).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
    }
    expect(asArray(services.postgres.healthcheck?.test)).toContain('pg_isready');
    expect(asArray(services.redis.healthcheck?.test)).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('redis: AOF on and noeviction', () => {
    const args = asArray(services.redis.command);
    const flag = (name: string) => args[args.indexOf(name) + 1];
    expect(args[0]).toBe('redis-server');
    expect(args).toContain('--appendonly');
    expect(flag('--appendonly')).toBe('yes');
    expect(flag('--maxmemory-policy')).toBe('noeviction');
  });

  it('Dockerfile: every stage is Node 24 LTS on Debian bookworm (slim), which package.json engines admits', () => {
    const lines = read('Dockerfile')
      .split('\n')
      .map((l) => l.trim());
    // Global ARGs (before the first FROM) with their defaults, as `docker build` substitutes them.
    const args = new Map(
      lines
        .map((l) => /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/i.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    const images = lines
      .map((l) => /^FROM\s+(\S+)/i.exec(l)?.[1])
      .filter((image): image is string => image !== undefined)
      .map((image) => image.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => args.get(name) ?? ''));
    expect(images.length).toBeGreaterThanOrEqual(2);
    expect(new Set(images)).toEqual(new Set(['node:24-bookworm-slim']));
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    // 20.19+ (what CI also tests), with no upper bound: 24 included.
    expect(engines).toMatch(/^>=\s*20\.19(\.0)?$/);
  });

  it('Dockerfile: multi-stage, the final stage runs as a non-root user and its CMD is a dist main.js', () => {
    const lines = read('Dockerfile')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const froms = lines.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const build = lines.slice(froms[0], froms[1]);
    expect(build.some((l) => /^RUN\s.*npm run build/.test(l))).toBe(true);
    const final = lines.slice(froms[froms.length - 1]);
    // It copies the build's output from an earlier stage, not the sources.
    expect(final.some((l) => /^COPY\s+--from=\S+\s+\S*dist\s/.test(l))).toBe(true);
    const users = final.filter((l) => /^USER\s/i.test(l)).map((l) => l.split(/\s+/)[1]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0', '0:0', 'root:root']).not.toContain(users[users.length - 1]);
    const cmds = final.filter((l) => /^CMD\s/i.test(l));
    expect(cmds).toHaveLength(1);
    const cmd = JSON.parse(cmds[0].replace(/^CMD\s+/i, '')) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd[cmd.length - 1]).toMatch(/^dist\/apps\/(api|worker|cli)\/main\.js$/);
    // Every app command compose runs is one of the dist entry points the build produces.
    const apps = ['api', 'worker', 'cli'].map((a) => `dist/apps/${a}/main.js`);
    for (const name of ['migrate', 'api', 'worker']) {
      expect(asArray(services[name].command).filter((arg) => arg.startsWith('dist/'))).toEqual([
        expect.stringMatching(new RegExp(`^(${apps.join('|')})$`)),
      ]);
    }
  });
});
