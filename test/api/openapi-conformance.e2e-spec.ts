import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { ALL_PERMISSIONS } from '@ipm/auth';
import { BulkJobEntity } from '@ipm/bulk';
import { BULK_STORAGE, type BulkStorage } from '@ipm/bulk';
import { callName } from '@ipm/core';
import { IdempotencyRecordEntity } from '@ipm/core';
import { requestFingerprint } from '@ipm/core';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { describeRoutes, JsonObject, loadOpenApi, RouteOperation, validBody } from '../support/openapi-routes';
import { ContractDocument, ResponseValidator } from '../support/openapi-validator';
import { Answer, Call, inject } from '../support/routes-client';
import { createFixtures, TenantFixtures } from '../support/routes-fixtures';
import { TestReceiver } from '../support/receiver';

/**
 * Issue 17, point 5: every route, driven to its success and its main error statuses, answers only
 * what /docs-json declares (status, media type, headers, and a body that matches the schema with
 * every listed object closed), through a validator built from the document alone. The routes come
 * from test/support/openapi-routes.ts (a route the walker does not know fails the run).
 */

const RUN_PREFIX = process.env.QUEUE_PREFIX ?? 'ipm-test-local';
const saved = { ...process.env };

jest.setTimeout(120_000);

describe('the OpenAPI document says exactly what the api does', () => {
  let api: TestApi;
  let receiver: TestReceiver;
  let doc: ContractDocument;
  let validator: ResponseValidator;
  let ops: RouteOperation[];
  let jsonOps: RouteOperation[];
  let fixtures: TenantFixtures;
  let headers: Record<string, string>;
  const org = uniqueOrg('oas');
  /** Every status each route answered in these tests: the main ones must all have been seen. */
  const seen = new Map<string, Set<number>>();

  beforeAll(async () => {
    process.env.QUEUE_PREFIX = `${RUN_PREFIX}:openapi-conformance`;
    process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';
    process.env.WEBHOOK_VERIFY_TIMEOUT_MS = '300';
    // A caller's bucket small enough for the 429 test to empty, large enough for the others (one caller each).
    process.env.RATE_LIMIT_PER_SECOND = '200';
    receiver = await new TestReceiver().start();
    api = await startApi();
    const served = await loadOpenApi(api.app);
    doc = served as unknown as ContractDocument;
    validator = new ResponseValidator(doc);
    ops = describeRoutes(served);
    jsonOps = ops.filter((o) => o.spec.kind === 'json');
    const jwt = await token(api.config, { sub: 'oas', orgs: [org], permissions: [...ALL_PERMISSIONS] });
    headers = { ...bearer(jwt), 'x-orgcode': org };
    fixtures = await createFixtures(api.app, { headers: bearer(jwt), orgcode: org }, receiver.origin, 'oas');
  });
  afterAll(async () => {
    await api?.close();
    await receiver?.close();
    process.env = saved;
  });

  /** Calls the api and returns the answer with what the document does not declare about it. */
  const call = async (
    op: Pick<RouteOperation, 'method' | 'path'>,
    c: Omit<Call, 'method'>,
  ): Promise<Answer & { problems: string[] }> => {
    const res = await inject(api.app, { method: op.method, ...c });
    (
      seen.get(`${op.method} ${op.path}`) ??
      seen.set(`${op.method} ${op.path}`, new Set()).get(`${op.method} ${op.path}`)
    )?.add(res.status);
    return { ...res, problems: validator.problems(op.method, op.path, res) };
  };
  /** Collects findings, so that one failure lists every route and case. */
  const findings = (): {
    list: string[];
    add: (what: string, res: Answer & { problems: string[] }, expected?: number) => void;
  } => {
    const list: string[] = [];
    return {
      list,
      add: (what, res, expected) => {
        const problems = [...res.problems];
        if (expected !== undefined && res.status !== expected) problems.push(`expected ${expected}`);
        if (problems.length) list.push(`${what} -> ${res.status}: ${problems.join('; ')} :: ${res.raw.slice(0, 160)}`);
      },
    };
  };
  const body = (op: RouteOperation): JsonObject => validBody(op, fixtures);

  it('serves the package version', () => {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(doc.info.version).toBe(version);
  });

  it('declares on every route what every route can answer', () => {
    const missing: string[] = [];
    for (const op of ops) {
      const need = [500, 503];
      if (op.method !== 'GET') need.push(413, 415);
      if (op.secured) need.push(401, 429);
      if (op.idempotent) need.push(409, 422);
      for (const s of need) if (!op.statuses.includes(s)) missing.push(`${op.key} ${s}`);
      const responses = doc.paths[op.path][op.method.toLowerCase()].responses;
      for (const [status, r] of Object.entries(responses)) {
        const names = Object.keys(r.headers ?? {});
        if (!names.includes('x-request-id')) missing.push(`${op.key} ${status} x-request-id`);
        if (op.secured && !names.includes('x-ratelimit-remaining')) missing.push(`${op.key} ${status} x-ratelimit-*`);
        if (status === '429' && !r.headers?.['retry-after']?.required) missing.push(`${op.key} 429 Retry-After`);
        if (op.idempotent && status === '200' && !names.includes('idempotent-replayed')) {
          missing.push(`${op.key} 200 idempotent-replayed`);
        }
      }
    }
    expect(missing).toEqual([]);
    // limit: its clamp described, no bound that would call a clamped value invalid.
    const limit = doc.components.schemas.WebhookListRequestDto.properties as Record<string, Record<string, unknown>>;
    expect(limit.limit).toMatchObject({ type: 'integer' });
    expect(limit.limit.maximum).toBeUndefined();
    expect(limit.limit.minimum).toBeUndefined();
    // Request bodies are closed (the ValidationPipe refuses unknown fields).
    for (const op of jsonOps) expect([op.key, op.body?.additionalProperties]).toEqual([op.key, false]);
  });

  it('valid requests: the success of every route as declared', async () => {
    const f = findings();
    for (const op of jsonOps) {
      const extra: Record<string, string> = op.idempotent ? { 'idempotency-key': `oas-valid-${op.operationId}` } : {};
      const res = await call(op, { url: op.path, headers: { ...headers, ...extra }, json: body(op) });
      // The valid body's documented refusal (a stale revision, nothing uploaded yet), or its success.
      f.add(op.key, res, res.status === 200 ? 200 : (op.spec.validStatus ?? 200));
    }
    for (const [url, route] of [
      ['/ipm/stat', '/ipm/stat'],
      ['/health/live', '/health/live'],
      ['/health/ready', '/health/ready'],
      ['/metrics', '/metrics'],
      [`/ipm/event/schema/${fixtures.event_type}`, '/ipm/event/schema/{event_type}'],
    ]) {
      f.add(`GET ${url}`, await call({ method: 'GET', path: route }, { url, headers }), 200);
    }
    expect(f.list).toEqual([]);
  });

  it('the errors every route shares: 400, 401, 403, 404, 413, 415, 414', async () => {
    const f = findings();
    const stranger = await token(api.config, {
      sub: 'stranger',
      orgs: ['elsewhere'],
      permissions: [...ALL_PERMISSIONS],
    });
    const big = JSON.stringify({ blob: 'b'.repeat(api.config.BODY_LIMIT_BYTES + 1) });
    for (const op of jsonOps) {
      const url = op.path;
      f.add(`${op.key} unknown field`, await call(op, { url, headers, json: { ...body(op), zz_unknown: 1 } }), 400);
      f.add(`${op.key} no credentials`, await call(op, { url, headers: { 'x-orgcode': org }, json: body(op) }), 401);
      f.add(
        `${op.key} another org`,
        await call(op, { url, headers: { ...bearer(stranger), 'x-orgcode': org }, json: body(op) }),
        404,
      );
      f.add(`${op.key} too large`, await call(op, { url, headers, raw: big }), 413);
      f.add(
        `${op.key} text/plain`,
        await call(op, { url, headers: { ...headers, 'content-type': 'text/plain' }, raw: 'hello' }),
        415,
      );
      if (op.permission) {
        const others = ALL_PERMISSIONS.filter((p) => p !== op.permission);
        const jwt = await token(api.config, { sub: 'oas-less', orgs: [org], permissions: others });
        f.add(
          `${op.key} without ${op.permission}`,
          await call(op, { url, headers: { ...bearer(jwt), 'x-orgcode': org }, json: body(op) }),
          403,
        );
      }
    }
    const schema = { method: 'GET', path: '/ipm/event/schema/{event_type}' } as const;
    f.add('schema: no credentials', await call(schema, { url: '/ipm/event/schema/rfp.created' }), 401);
    f.add('schema: malformed', await call(schema, { url: '/ipm/event/schema/nope', headers }), 400);
    f.add('schema: unknown', await call(schema, { url: '/ipm/event/schema/nosuch.type', headers }), 404);
    f.add('schema: too long', await call(schema, { url: `/ipm/event/schema/${'a'.repeat(5000)}`, headers }), 414);
    expect(f.list).toEqual([]);
  });

  it('Idempotency-Key: a replay says so in its header; another body is a 422; a key in progress is a 409', async () => {
    const f = findings();
    const idempotent = jsonOps.filter((o) => o.idempotent);
    expect(idempotent.length).toBeGreaterThanOrEqual(5);
    for (const op of idempotent) {
      const key = { 'idempotency-key': `oas-replay-${op.operationId}` };
      const first = await call(op, { url: op.path, headers: { ...headers, ...key }, json: body(op) });
      f.add(`${op.key} first`, first);
      if (first.status !== 200) continue;
      const replay = await call(op, { url: op.path, headers: { ...headers, ...key }, json: body(op) });
      f.add(`${op.key} replay`, replay, 200);
      if (replay.headers['idempotent-replayed'] !== 'true')
        f.list.push(`${op.key}: a replay without idempotent-replayed`);
      const other = await call(op, {
        url: op.path,
        headers: { ...headers, ...key },
        json: { ...body(op), reason: 'another' },
      });
      f.add(`${op.key} reused`, other, 422);
    }
    // A key held by a request still running (inserted as the interceptor would): the retry waits, then 409.
    const db = api.app.get(DataSource);
    const held = await Promise.all(
      idempotent.map(async (op) => {
        const key = `oas-held-${op.operationId}`;
        const json = body(op);
        await db.getRepository(IdempotencyRecordEntity).insert({
          orgcode: org,
          idempotency_key: key,
          call: callName(op.method, op.path),
          request_hash: requestFingerprint(callName(op.method, op.path), json, 'oas'),
          state: 'in_progress',
          response_status: null,
          response_sealed: null,
          expires_at: new Date(Date.now() + 3_600_000),
        });
        return [op, await call(op, { url: op.path, headers: { ...headers, 'idempotency-key': key }, json })] as const;
      }),
    );
    for (const [op, res] of held) f.add(`${op.key} in progress`, res, 409);
    expect(f.list).toEqual([]);
  });

  it('429: Retry-After and the x-ratelimit headers, as declared', async () => {
    const f = findings();
    const busy = uniqueOrg('oas-busy');
    const jwt = await token(api.config, { sub: 'oas-busy', orgs: [busy], permissions: [...ALL_PERMISSIONS] });
    const h = { ...bearer(jwt), 'x-orgcode': busy };
    const lifecycle = jsonOps.find((o) => o.key === 'POST /ipm/lifecycle/list') as RouteOperation;
    // Each route called behind a burst that empties the caller's bucket (it refills at 200/s, a token
    // every 5 ms: a call made after the burst would find one), until the route answers 429.
    let refused = 0;
    for (const op of jsonOps) {
      for (let i = 0; i < 20; i++) {
        const burst = Array.from({ length: 40 }, () => call(lifecycle, { url: lifecycle.path, headers: h, json: {} }));
        const [res, ...rest] = await Promise.all(
          [...burst, call(op, { url: op.path, headers: h, json: {} })].reverse(),
        );
        rest.forEach((r) => f.add('lifecycle burst', r));
        f.add(`${op.key} limited`, res);
        if (res.status === 429) {
          refused++;
          break;
        }
      }
    }
    expect(refused).toBeGreaterThan(10);
    expect(f.list).toEqual([]);
  });

  it('the bulk file routes: the upload body as declared; the file, and its errors as JSON envelopes', async () => {
    const f = findings();
    const upload = { method: 'PUT', path: '/ipm/bulk/upload/{token}' } as const;
    const file = { method: 'GET', path: '/ipm/bulk/file/{token}' } as const;
    const created = await inject(api.app, {
      method: 'POST',
      url: '/ipm/bulk/import/create',
      headers,
      json: { target: 'events', format: 'ndjson' },
    });
    const uploadUrl = (created.body as { data: { upload_url: string } }).data.upload_url;
    const line = JSON.stringify({ event_type: fixtures.event_type, payload: fixtures.payload });
    const ndjson = { 'content-type': 'application/x-ndjson' };
    f.add(
      'upload text/plain',
      await call(upload, { url: uploadUrl, headers: { 'content-type': 'text/plain' }, raw: line }),
      415,
    );
    f.add('upload', await call(upload, { url: uploadUrl, headers: ndjson, raw: `${line}\n` }), 200);
    f.add('upload again', await call(upload, { url: uploadUrl, headers: ndjson, raw: `${line}\n` }), 401);
    f.add('upload forged', await call(upload, { url: '/ipm/bulk/upload/forged', headers: ndjson, raw: line }), 401);
    f.add(
      'upload too long',
      await call(upload, { url: `/ipm/bulk/upload/${'t'.repeat(5000)}`, headers: ndjson, raw: line }),
      414,
    );

    // A finished export (no worker runs here): its file written and its job completed, as the worker would.
    const storage = api.app.get<BulkStorage>(BULK_STORAGE);
    const writer = storage.createWriter({ orgcode: org, jobId: fixtures.export_job_id, kind: 'export' });
    await writer.write(Buffer.from(`${line}\n`));
    await writer.finish();
    await api.app
      .get(DataSource)
      .getRepository(BulkJobEntity)
      .update({ job_id: fixtures.export_job_id }, { status: 'completed' });
    const job = await inject(api.app, {
      method: 'POST',
      url: '/ipm/bulk/job/get',
      headers,
      json: { job_id: fixtures.export_job_id },
    });
    const downloadUrl = (job.body as { data: { download_url: string } }).data.download_url;
    expect(downloadUrl).toBeDefined();
    f.add('file', await call(file, { url: downloadUrl }), 200);
    f.add('file forged', await call(file, { url: '/ipm/bulk/file/forged' }), 401);
    f.add('file too long', await call(file, { url: `/ipm/bulk/file/${'t'.repeat(5000)}` }), 414);
    expect(f.list).toEqual([]);
  });

  it('every route was driven to its success and main errors', () => {
    const missing: string[] = [];
    for (const op of ops) {
      const statuses = seen.get(op.key) ?? new Set<number>();
      const want =
        op.path === '/metrics' || op.path.startsWith('/health') || op.path === '/ipm/stat' ? [200] : [200, 401];
      if (op.spec.kind === 'json') want.push(400, 413, 415);
      for (const s of want) if (!statuses.has(s) && !(s === 200 && op.spec.validStatus)) missing.push(`${op.key} ${s}`);
    }
    expect(missing).toEqual([]);
  });
});
