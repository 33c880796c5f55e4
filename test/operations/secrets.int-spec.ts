import { createHmac, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { waitFor } from '../support/wait';
import { TestReceiver, type Received } from '../support/receiver';
import { BUILD_TIMEOUT_MS, type BuiltApp, ensureBuilt, freePort, startBuilt } from '../support/secrets-procs';

/**
 * Secrets never leak (issue 9, point 7). The BUILT api and worker run as child processes with
 * LOG_LEVEL=verbose and LOG_FORMAT=json, and everything they and this test process print is kept.
 * A full run (an API key, webhooks and their secrets, a rotation, signed deliveries, a failing
 * endpoint, /webhook/verify, bad and expired JWTs, wrong API keys, a bulk export and a bulk import,
 * /audit/list) must leave no webhook secret (with or without whsec_), no API key, no JWT (none of
 * ours, and no eyJ… three-part token at all), and neither SECRETS_KEY nor JWT_SECRET in the logs,
 * the audit rows, the export file, the delivery attempts, the bulk reports, or any table.
 */

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = (): number => Math.floor(Date.now() / 1000);
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

type Json = Record<string, unknown>;

describe('secrets never leak (built api + worker, verbose JSON logs)', () => {
  const org = `secrets-${Date.now().toString(36)}`;
  const jwtSecret = `jwt-${randomBytes(24).toString('base64url')}`;
  const secretsKeyBytes = randomBytes(32).toString('base64');
  const secretsKey = `s1:${secretsKeyBytes}`;
  const queuePrefix = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:secrets`;

  /** Every credential this run handles, by what it is. */
  const secrets = new Map<string, string>();
  const jwts: string[] = [];
  let api: (BuiltApp & { port: number }) | undefined;
  let worker: (BuiltApp & { port: number }) | undefined;
  let receiver: TestReceiver;
  let db: Client;
  let ownOutput = '';
  const restoreWrites: Array<() => void> = [];
  const exportFiles: Record<string, string> = {};
  let reportFile = '';

  const sign = (claims: Json, secret = jwtSecret): string => {
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
  const remember = (label: string, value: string): string => {
    secrets.set(label, value);
    return value;
  };

  const base = (): string => `http://127.0.0.1:${api?.port}`;
  async function call(
    path: string,
    body: Json,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: Json & { data?: Json; error?: Json } }> {
    const res = await fetch(`${base()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-orgcode': org, ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  }

  beforeAll(async () => {
    // This process's own output counts too.
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
        ownOutput += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        return (original as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
      };
      restoreWrites.push(() => (stream.write = original));
    }
    ensureBuilt('api');
    ensureBuilt('worker');
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    receiver = await new TestReceiver().start();
    receiver.on('/fail', { status: 500, body: { error: 'boom', echo: 'nothing secret here' } });
    receiver.on('/verify', {
      body: (r: Received) => ({ challenge: (JSON.parse(r.body) as { data: { challenge: string } }).data.challenge }),
    });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LOG_LEVEL: 'verbose',
      LOG_FORMAT: 'json',
      JWT_ALGORITHM: 'HS256',
      JWT_SECRET: jwtSecret,
      SECRETS_KEY: secretsKey,
      QUEUE_PREFIX: queuePrefix,
      WEBHOOK_TARGET_ALLOWLIST: '127.0.0.1/32',
      RELAY_POLL_MS: '50',
      BULK_CHUNK_LINES: '5',
      WEBHOOK_VERIFY_TIMEOUT_MS: '5000',
    };
    delete env.JWT_ISSUER;
    delete env.JWT_PUBLIC_KEY;
    delete env.JWT_JWKS_URL;
    const apiPort = await freePort();
    [api, worker] = await Promise.all([
      startBuilt('api', { ...env, API_PORT: String(apiPort), API_HOST: '127.0.0.1' }),
      startBuilt('worker', { ...env, WORKER_PORT: '0' }),
    ]);
    await driveFullRun();
  }, BUILD_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await receiver?.close();
    await db?.end();
    for (const restore of restoreWrites) restore();
  });

  async function driveFullRun(): Promise<void> {
    const admin = sign({
      sub: 'secrets-admin',
      orgs: [org],
      permissions: ['manage_api_keys', 'manage_webhooks', 'publish_events', 'manage_bulk_jobs', 'view_audit'],
      aud: 'ipm',
      iat: now(),
      exp: now() + 600,
    });
    jwts.push(admin);
    const asAdmin = { authorization: `Bearer ${admin}` };

    // An API key, kept in plaintext; it does the rest of the work.
    const created = await call(
      '/ipm/apikey/create',
      {
        name: 'secrets probe',
        permissions: ['manage_webhooks', 'publish_events', 'manage_bulk_jobs', 'view_audit'],
      },
      { ...asAdmin, 'idempotency-key': 'secrets-key-1' },
    );
    expect(created.status).toBe(200);
    const key = remember('api key', (created.body.data as { key: string }).key);
    const asKey = { 'x-api-key': key };

    // Webhooks: a good endpoint, a failing one, and one to verify; every secret kept.
    const hooks: Record<string, string> = {};
    for (const [name, path] of [
      ['ok', '/ok'],
      ['fail', '/fail'],
      ['verify', '/verify'],
    ] as const) {
      const res = await call(
        '/ipm/webhook/create',
        { endpoint_url: receiver.url(path), event_filters: [{ service: 'rfp' }], name },
        { ...asKey, 'idempotency-key': `secrets-hook-${name}` },
      );
      expect(res.status).toBe(200);
      const data = res.body.data as { webhook_id: string; secret: string };
      hooks[name] = data.webhook_id;
      remember(`secret of ${name}`, data.secret);
    }
    const rotated = await call('/ipm/webhook/secret/rotate', { webhook_id: hooks.ok, reason: 'drill' }, asKey);
    expect(rotated.status).toBe(200);
    remember('rotated secret', (rotated.body.data as { secret: string }).secret);

    // Events, delivered signed (with the new and the previous secret) to /ok, and failing at /fail.
    const published = await call(
      '/ipm/event/publish',
      {
        events: [1, 2, 3].map((n) => ({
          event_type: 'rfp.cancelled',
          event_id: `secret-evt-${n}`,
          payload: { rfp_id: `R-${n}` },
        })),
      },
      asKey,
    );
    expect(published.status).toBe(200);
    await receiver.waitFor(3, '/ok', 20_000);
    await receiver.waitFor(1, '/fail', 20_000);
    await waitFor(
      'the failed attempt recorded',
      async () => {
        const { rows } = await db.query(`SELECT 1 FROM delivery_attempts WHERE orgcode = $1 AND status_code = 500`, [
          org,
        ]);
        return rows.length > 0 || undefined;
      },
      20_000,
    );
    const verified = await call('/ipm/webhook/verify', { webhook_id: hooks.verify }, asKey);
    expect(verified.body.data).toMatchObject({ verified: true });

    // Refused credentials: they must not be logged either.
    const expired = sign({ sub: 'x', orgs: [org], permissions: [], aud: 'ipm', exp: now() - 3600 });
    const forged = sign(
      { sub: 'x', orgs: [org], permissions: [], aud: 'ipm', exp: now() + 600 },
      'not-the-secret-0123456789abcdefghij',
    );
    const unsigned = `${b64({ alg: 'none' })}.${b64({ sub: 'x', orgs: [org], aud: 'ipm', exp: now() + 600 })}.`;
    jwts.push(expired, forged, unsigned);
    for (const jwt of [expired, forged, unsigned]) {
      expect((await call('/ipm/webhook/list', {}, { authorization: `Bearer ${jwt}` })).status).toBe(401);
    }
    const wrongKey = remember('wrong api key', `ipm_${randomBytes(30).toString('base64url')}`);
    expect((await call('/ipm/webhook/list', {}, { 'x-api-key': wrongKey })).status).toBe(401);
    expect((await call('/ipm/webhook/list', {}, { 'x-api-key': `${key.slice(0, -2)}xx` })).status).toBe(401);
    // A secret sent where it does not belong is refused, not echoed to the logs.
    const stray = await call(
      '/ipm/webhook/create',
      { endpoint_url: receiver.url('/ok'), secret: secrets.get('secret of ok') },
      asKey,
    );
    expect(stray.status).toBe(400);

    // A bulk import of webhooks: one good line, one carrying a secret (refused), two malformed ones
    // with a secret, an API key and a JWT in them: the report shows refused lines, never those.
    const imported = await call('/ipm/bulk/import/create', { target: 'webhooks', format: 'ndjson' }, asKey);
    expect(imported.status).toBe(200);
    const { job, upload_url } = imported.body.data as { job: { job_id: string }; upload_url: string };
    const lines = [
      JSON.stringify({ endpoint_url: receiver.url('/ok'), event_filters: [{ service: 'rfp' }], name: 'imported' }),
      JSON.stringify({ endpoint_url: receiver.url('/ok'), secret: secrets.get('secret of fail') }),
      `{"endpoint_url": "${receiver.url('/ok')}", "secret": "${secrets.get('rotated secret')}", `,
      `{"endpoint_url": "${receiver.url('/ok')}", "name": "pasted a key ${key} and a token Bearer ${admin}"`,
    ];
    const put = await fetch(`${base()}${upload_url}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-ndjson' },
      body: `${lines.join('\n')}\n`,
    });
    expect(put.status).toBe(200);
    const revision = ((await put.json()) as { data: { job: { revision: string } } }).data.job.revision;
    expect(
      (await call('/ipm/bulk/import/commit', { job_id: job.job_id, expected_revision: revision }, asKey)).status,
    ).toBe(200);
    const importDone = await finished(job.job_id, asKey);
    expect(importDone.job).toMatchObject({ succeeded: expect.any(Number), failed: expect.any(Number) });
    expect((importDone.job as { failed: number }).failed).toBeGreaterThanOrEqual(2);
    reportFile = await (await fetch(`${base()}${importDone.report_url}`)).text();
    expect(reportFile.trim().split('\n').length).toBeGreaterThanOrEqual(2);

    // Bulk exports of the webhooks, the audit log (NDJSON) and the deliveries (CSV), downloaded.
    for (const [target, format] of [
      ['webhooks', 'ndjson'],
      ['audit', 'ndjson'],
      ['deliveries', 'csv'],
    ] as const) {
      const exported = await call('/ipm/bulk/export/create', { target, format }, asKey);
      expect(exported.status).toBe(200);
      const done = await finished((exported.body.data as { job: { job_id: string } }).job.job_id, asKey);
      expect(done.download_url).toBeDefined();
      exportFiles[target] = await (await fetch(`${base()}${done.download_url}`)).text();
    }
    expect(exportFiles.webhooks).toContain(hooks.ok);
    expect(exportFiles.audit).toContain('webhook.secret_rotate');
    expect(exportFiles.deliveries).toContain(hooks.fail);

    // The audit log, through the api.
    const audit = await call('/ipm/audit/list', { limit: 256 }, asKey);
    expect(audit.status).toBe(200);
    expect((audit.body.data as { items: unknown[] }).items.length).toBeGreaterThan(5);
    // let the processes flush their last lines
    await new Promise((r) => setTimeout(r, 300));
  }

  async function finished(
    jobId: string,
    auth: Record<string, string>,
  ): Promise<{ job: Json; download_url?: string; report_url?: string }> {
    return waitFor(
      `bulk job ${jobId} to finish`,
      async () => {
        const res = await call('/ipm/bulk/job/get', { job_id: jobId }, auth);
        const data = res.body.data as { job: { status: string }; download_url?: string; report_url?: string };
        return ['completed', 'completed_with_errors', 'failed'].includes(data.job.status) ? data : undefined;
      },
      30_000,
    );
  }

  /** The needles: each secret as sent, and each webhook secret's base64 key without whsec_. */
  function needles(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [label, value] of secrets) {
      out.push([label, value]);
      if (value.startsWith('whsec_')) out.push([`${label} (key part)`, value.slice('whsec_'.length)]);
    }
    jwts.forEach((jwt, i) => {
      out.push([`jwt #${i}`, jwt]);
      out.push([`jwt #${i} signature`, jwt.split('.')[2] || jwt]);
    });
    out.push(['JWT_SECRET', jwtSecret], ['SECRETS_KEY', secretsKeyBytes]);
    return out.filter(([, v]) => v.length >= 8);
  }

  function leaks(text: string): string[] {
    const found = needles()
      .filter(([, value]) => text.includes(value))
      .map(([label]) => label);
    const shapes = text.match(JWT_SHAPE) ?? [];
    return [...found, ...shapes.map((s) => `a JWT-shaped token ${s.slice(0, 20)}…`)];
  }

  it('the run did what a tenant does (the needles are real)', () => {
    expect(secrets.size).toBeGreaterThanOrEqual(6);
    expect(jwts).toHaveLength(4);
    expect(receiver.at('/ok').length).toBeGreaterThanOrEqual(3);
    expect(String(receiver.at('/ok')[0].headers['webhook-signature'])).toMatch(/^v1,/);
    // the logs are the verbose JSON ones
    expect(api?.output()).toMatch(/"level":"(trace|debug|info)"/);
    expect(worker?.output()).toMatch(/"level":"(trace|debug|info)"/);
  });

  it('no secret in the api, worker or test logs', () => {
    expect({ api: leaks(api?.output() ?? ''), worker: leaks(worker?.output() ?? ''), test: leaks(ownOutput) }).toEqual({
      api: [],
      worker: [],
      test: [],
    });
  });

  it('no secret in the audit rows (every column)', async () => {
    const { rows } = await db.query<{ row: string }>(`SELECT a::text AS row FROM audit_log a WHERE orgcode = $1`, [
      org,
    ]);
    expect(rows.length).toBeGreaterThan(5);
    expect(leaks(rows.map((r) => r.row).join('\n'))).toEqual([]);
  });

  it('no secret in the export files (webhooks, audit, deliveries) or the import report', () => {
    expect(Object.keys(exportFiles)).toHaveLength(3);
    for (const [target, text] of Object.entries(exportFiles))
      expect({ target, leaks: leaks(text) }).toEqual({ target, leaks: [] });
    expect(reportFile).toMatch(/redacted|REDACTED/);
    expect(leaks(reportFile)).toEqual([]);
  });

  it('no secret in the delivery rows and attempts', async () => {
    const { rows } = await db.query<{ row: string }>(
      `SELECT d::text AS row FROM deliveries d WHERE orgcode = $1
       UNION ALL SELECT a::text FROM delivery_attempts a WHERE orgcode = $1`,
      [org],
    );
    expect(rows.length).toBeGreaterThan(3);
    expect(leaks(rows.map((r) => r.row).join('\n'))).toEqual([]);
  });

  it('no secret anywhere in the database (every table, bulk files decoded)', async () => {
    const { rows: tables } = await db.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'bulk_parts'`,
    );
    const found: Record<string, string[]> = {};
    for (const { name } of tables) {
      const { rows } = await db.query<{ row: string }>(`SELECT t::text AS row FROM "${name}" t`);
      const hit = needles()
        .filter(([, value]) => rows.some((r) => r.row.includes(value)))
        .map(([label]) => label);
      if (hit.length) found[name] = hit;
    }
    const { rows: parts } = await db.query<{ kind: string; data: Buffer }>(
      `SELECT kind, data FROM bulk_parts WHERE orgcode = $1 ORDER BY job_id, kind, part_no`,
      [org],
    );
    // The upload holds the secrets the import file carried: the scan does see bulk files' text.
    const upload = parts
      .filter((p) => p.kind === 'upload')
      .map((p) => p.data.toString('utf8'))
      .join('');
    expect(upload).toContain(secrets.get('rotated secret'));
    for (const kind of ['export', 'report']) {
      const text = parts
        .filter((p) => p.kind === kind)
        .map((p) => p.data.toString('utf8'))
        .join('');
      const hit = leaks(text);
      if (hit.length) found[`bulk_parts (${kind})`] = hit;
    }
    expect(found).toEqual({});
  });
});
