import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { ApiKeysService } from '@ipm/apikeys';
import { ALL_PERMISSIONS, isPermission, JwtVerifier, Permission } from '@ipm/auth';
import { loadConfig } from '@ipm/core';
import { revertMigration, runMigrations } from '@ipm/persistence';
import { CliModule } from './cli.module';

const USAGE = `ipm cli: npm run -s cli -- <command> [options]

  token   --org acme[,other] --permissions manage_webhooks,... [--sub dev-user] [--app-id app] [--expires-in 12h]
          Prints a development JWT (HS256, signed with JWT_SECRET) and nothing else.
  apikey  create --org acme --name "ci key" --permissions manage_webhooks,... [--app-id app]
          Prints the new API key (shown once) on stdout; its id and prefix on stderr.
  migrate           Applies pending database migrations (creates the database if missing).
  migrate:revert    Reverts the last migration.

Permissions: ${ALL_PERMISSIONS.join(', ')} (or "all").`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function list(value: string | undefined, name: string): string[] {
  if (!value) fail(`--${name} is required`);
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function permissions(value: string | undefined): Permission[] {
  const given = list(value, 'permissions');
  if (given.includes('all')) return [...ALL_PERMISSIONS];
  const unknown = given.filter((p) => !isPermission(p));
  if (unknown.length) fail(`unknown permission(s): ${unknown.join(', ')}`);
  return given as Permission[];
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      org: { type: 'string' },
      permissions: { type: 'string' },
      sub: { type: 'string' },
      'app-id': { type: 'string' },
      'expires-in': { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, sub] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfig(process.env);
  switch (command) {
    case 'token': {
      const jwt = await new JwtVerifier(config).sign({
        sub: values.sub ?? `dev:${userInfo().username}`,
        orgs: list(values.org, 'org'),
        permissions: permissions(values.permissions),
        app_id: values['app-id'],
        expiresIn: values['expires-in'],
      });
      process.stdout.write(`${jwt}\n`);
      return;
    }
    case 'apikey': {
      if (sub !== 'create') fail('usage: apikey create --org ... --name ... --permissions ...');
      const orgs = list(values.org, 'org');
      if (orgs.length !== 1) fail('--org takes exactly one org code for an API key');
      const app = await NestFactory.createApplicationContext(CliModule, { logger: ['error', 'fatal'] });
      try {
        const perms = permissions(values.permissions);
        const created = await app.get(ApiKeysService).create(
          {
            kind: 'system',
            actor_id: `cli:${userInfo().username}`,
            orgs,
            orgcode: orgs[0],
            permissions: perms,
            app_id: null,
          },
          {
            name: values.name ?? 'cli key',
            permissions: perms,
            app_id: values['app-id'],
            reason: 'created with the ipm cli',
          },
        );
        process.stderr.write(`created ${created.api_key.key_id} (${created.api_key.prefix}…) for ${orgs[0]}\n`);
        process.stdout.write(`${created.key}\n`);
      } finally {
        await app.close();
      }
      return;
    }
    case 'migrate': {
      const applied = await runMigrations(config);
      process.stderr.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
      return;
    }
    case 'migrate:revert':
      await revertMigration(config);
      process.stderr.write('reverted the last migration\n');
      return;
    default:
      fail(`unknown command: ${command}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
