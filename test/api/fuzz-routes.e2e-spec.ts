import fc from 'fast-check';
import { ALL_PERMISSIONS } from '@ipm/auth';
import { MAX_JSON_DEPTH } from '@ipm/core';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import {
  acceptedTypes,
  describeRoutes,
  fieldsOf,
  hasParent,
  Json,
  JsonObject,
  JsonSchema,
  jsonType,
  loadOpenApi,
  RouteOperation,
  validBody,
  withField,
} from '../support/openapi-routes';
import { Answer, envelopeProblems, inject, namesField } from '../support/routes-client';
import { createFixtures, TenantFixtures } from '../support/routes-fixtures';
import { TestReceiver } from '../support/receiver';

/**
 * Issue 9, point 3: bad input on every route. The routes come from /docs-json (a route the walker
 * does not know fails the run); each JSON route gets its valid body broken every way we can think
 * of, then fast-check's random bodies and headers. Every answer: no 5xx, the envelope, and a 400
 * names the field and why.
 */

// The file's own BullMQ prefix (no worker consumes what the valid bodies enqueue) and a local receiver.
const RUN_PREFIX = process.env.QUEUE_PREFIX ?? 'ipm-test-local';
const saved = { ...process.env };
const SEED = Number(process.env.FUZZ_SEED ?? 20260907);
const TYPE_SWAPS: Json[] = [42, 'fuzz', true, null, [], {}];
const HUGE = 'h'.repeat(200 * 1024);

jest.setTimeout(120_000);

describe('bad input on every route (generated from /docs-json)', () => {
  let api: TestApi;
  let receiver: TestReceiver;
  let ops: RouteOperation[];
  let jsonOps: RouteOperation[];
  let fixtures: TenantFixtures;
  let headers: Record<string, string>;
  const org = uniqueOrg('fuzz');

  beforeAll(async () => {
    process.env.QUEUE_PREFIX = `${RUN_PREFIX}:fuzz-routes`;
    process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';
    process.env.WEBHOOK_VERIFY_TIMEOUT_MS = '300';
    receiver = await new TestReceiver().start();
    api = await startApi();
    ops = describeRoutes(await loadOpenApi(api.app));
    jsonOps = ops.filter((o) => o.spec.kind === 'json');
    const jwt = await token(api.config, { sub: 'fuzzer', orgs: [org], permissions: [...ALL_PERMISSIONS] });
    headers = { ...bearer(jwt), 'x-orgcode': org };
    fixtures = await createFixtures(api.app, { headers: bearer(jwt), orgcode: org }, receiver.origin, 'fz');
  });
  afterAll(async () => {
    if (process.env.FUZZ_TIMING) console.log([...timing].sort((a, b) => b[1] - a[1]).slice(0, 10));
    await api?.close();
    await receiver?.close();
    process.env = saved;
  });

  /**
   * /webhook/test waits for a worker to deliver (the webhook's timeout plus 2 s) and none runs here:
   * once its valid body has passed, its mutations target a paused webhook, refused at once (409)
   * after the same validation.
   */
  let testRouteChecked = false;
  const base = (op: RouteOperation): JsonObject =>
    op.key === 'POST /ipm/webhook/test' && testRouteChecked
      ? { ...validBody(op, fixtures), webhook_id: fixtures.paused_webhook_id }
      : validBody(op, fixtures);
  const timing = new Map<string, number>();
  const send = async (op: RouteOperation, json: Json, extra: Record<string, string> = {}) => {
    const t0 = Date.now();
    const res = await inject(api.app, { method: op.method, url: op.path, headers: { ...headers, ...extra }, json });
    timing.set(op.key, (timing.get(op.key) ?? 0) + Date.now() - t0);
    return res;
  };
  const sendRaw = (op: RouteOperation, raw: string | Buffer, extra: Record<string, string> = {}) =>
    inject(api.app, { method: op.method, url: op.path, headers: { ...headers, ...extra }, raw });

  /** Collects what is wrong with each answer, so that one failure lists every bad route and case. */
  class Findings {
    readonly list: string[] = [];
    count = 0;
    check(what: string, res: Answer, extra: (res: Answer) => string[] = () => []): void {
      this.count++;
      // Every 400, whatever the cause, names the field (or `body`, or the header) it is about.
      const problems = [...envelopeProblems(res, api.config.BUILD_ID), ...validationNamesAField(res), ...extra(res)];
      if (problems.length) this.list.push(`${what} -> ${res.status} ${problems.join('; ')}: ${res.raw.slice(0, 200)}`);
    }
  }
  const fieldIs400 =
    (path: string[]) =>
    (res: Answer): string[] =>
      res.status !== 400
        ? [`expected 400 naming ${path.join('.')}`]
        : namesField(res, path)
          ? []
          : [`400 does not name ${path.join('.')}`];

  it('knows every documented route, and every route with a body is a POST taking JSON', () => {
    expect(jsonOps.length).toBeGreaterThanOrEqual(40);
    const keys = ops.map((o) => o.key);
    expect(keys).toEqual(expect.arrayContaining(['POST /ipm/webhook/create', 'GET /ipm/stat']));
    for (const op of jsonOps) expect(op.body?.type).toBe('object');
    // Each parameter and security scheme documented once (a class and a method decorator once doubled them).
    const doubled = ops.filter(
      (o) =>
        new Set(o.parameters).size !== o.parameters.length ||
        new Set(o.securitySchemes).size !== o.securitySchemes.length,
    );
    expect(doubled.map((o) => o.key)).toEqual([]);
  });

  it('a caller with every permission but the documented one: 403 on the valid body', async () => {
    const guarded = jsonOps.filter((o) => o.permission);
    expect(guarded.length).toBeGreaterThan(25);
    const f = new Findings();
    for (const op of guarded) {
      if (!op.statuses.includes(403)) f.list.push(`${op.key} documents a permission but no 403`);
      const others = ALL_PERMISSIONS.filter((p) => p !== op.permission);
      const jwt = await token(api.config, { sub: 'fuzzer-less', orgs: [org], permissions: others });
      const res = await inject(api.app, {
        method: op.method,
        url: op.path,
        headers: { ...bearer(jwt), 'x-orgcode': org },
        json: base(op),
      });
      f.check(`${op.key} without ${op.permission}`, res, (r) => (r.status === 403 ? [] : ['expected 403']));
    }
    expect(f.list).toEqual([]);
  });

  it('accepts the synthesized valid body of every JSON route', async () => {
    const f = new Findings();
    for (const op of jsonOps) {
      const res = await send(op, base(op), op.idempotent ? { 'idempotency-key': `valid-${op.operationId}` } : {});
      const ok = (res.status >= 200 && res.status < 300) || op.spec.validStatus === res.status;
      f.check(op.key, res, () => (ok ? [] : ['the valid body was refused']));
    }
    testRouteChecked = true;
    expect(f.list).toEqual([]);
  });

  it('each required field missing: 400 naming it', async () => {
    const f = new Findings();
    for (const op of jsonOps) {
      const body = base(op);
      for (const field of fieldsOf(op.body as JsonSchema).filter((x) => x.required)) {
        if (!hasParent(body, field.path)) continue;
        const res = await send(op, withField(body, field.path, undefined));
        f.check(`${op.key} without ${field.path.join('.')}`, res, fieldIs400(field.path));
      }
    }
    expect(f.count).toBeGreaterThan(40);
    expect(f.list).toEqual([]);
  });

  it('each field with a value of the wrong type: 400 naming it (null on an optional field: 400, or as if absent)', async () => {
    const f = new Findings();
    for (const op of jsonOps) {
      const body = base(op);
      for (const field of fieldsOf(op.body as JsonSchema)) {
        const accepted = acceptedTypes(field.schema);
        if (accepted.size >= 5) continue; // any JSON value is fine there
        for (const value of TYPE_SWAPS) {
          if (accepted.has(jsonType(value))) continue;
          const what = `${op.key} ${field.path.join('.')}=${JSON.stringify(value)}`;
          const res = await send(op, withField(body, field.path, value));
          if (value === null && !field.required && !(res.status === 400 && namesField(res, field.path))) {
            // Lenient: null on an optional field means "not given", so the answer is the field's absence's.
            const absent = await send(op, withField(body, field.path, undefined));
            f.check(what, res, (r) => (r.status === absent.status ? [] : [`absent gives ${absent.status}`]));
          } else {
            f.check(what, res, fieldIs400(field.path));
          }
        }
      }
    }
    expect(f.count).toBeGreaterThan(500);
    expect(f.list).toEqual([]);
  });

  it('huge strings (200 KB) in every string field: never a 5xx; a 400 names the field', async () => {
    const f = new Findings();
    for (const op of jsonOps) {
      const body = base(op);
      for (const field of fieldsOf(op.body as JsonSchema).filter((x) => x.schema.type === 'string')) {
        const res = await send(op, withField(body, field.path, HUGE));
        f.check(`${op.key} ${field.path.join('.')}=<200 KB>`, res, (r) =>
          r.status === 400 && !namesField(r, field.path) ? [`400 does not name ${field.path.join('.')}`] : [],
        );
      }
    }
    expect(f.count).toBeGreaterThan(100);
    expect(f.list).toEqual([]);
  });

  it('unknown fields, top-level and nested: 400 naming them', async () => {
    const f = new Findings();
    for (const op of jsonOps) {
      const body = base(op);
      const targets = [
        [],
        ...fieldsOf(op.body as JsonSchema)
          .filter((x) => x.schema.properties && x.schema.additionalProperties !== true)
          .map((x) => x.path),
      ];
      for (const at of targets) {
        const path = [...at, 'zz_unknown'];
        const res = await send(op, withField(body, path, 'surprise'));
        f.check(`${op.key} +${path.join('.')}`, res, fieldIs400(path));
      }
    }
    expect(f.list).toEqual([]);
  });

  it(`deep nesting: past ${MAX_JSON_DEPTH} levels a 400 naming where, just under it the usual answers`, async () => {
    const f = new Findings();
    for (const op of jsonOps) {
      const body = base(op);
      const over = await sendRaw(op, withNesting(body, MAX_JSON_DEPTH + 10));
      f.check(`${op.key} nested ${MAX_JSON_DEPTH + 10}`, over, (r) =>
        r.status === 400 && /nested deeper/.test(JSON.stringify(r.body)) && namesField(r, ['zz_deep'])
          ? []
          : ['expected a 400 about nesting that names zz_deep'],
      );
      const under = await sendRaw(op, withNesting(body, MAX_JSON_DEPTH - 2));
      f.check(`${op.key} nested ${MAX_JSON_DEPTH - 2}`, under, fieldIs400(['zz_deep']));
    }
    // Event payloads have their own limit (64 levels), refused per item.
    const publish = jsonOps.find((o) => o.key === 'POST /ipm/event/publish') as RouteOperation;
    for (const depth of [63, 65, 2000]) {
      let payload: Json = { leaf: true };
      for (let i = 1; i < depth; i++) payload = { n: payload };
      const res = await send(publish, { events: [{ event_type: fixtures.event_type, payload }] });
      f.check(`publish payload nested ${depth}`, res);
    }
    expect(f.list).toEqual([]);
  });

  it('invalid UTF-8 and lone surrogates in a JSON string: 400, never silently replaced', async () => {
    const f = new Findings();
    for (const op of jsonOps) {
      const text = JSON.stringify({ ...base(op), zz_text: 'MARK' });
      const [before, after] = text.split('MARK');
      const badBytes = Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28]), Buffer.from(after)]);
      f.check(`${op.key} bytes C3 28`, await sendRaw(op, badBytes), (r) =>
        r.status === 400 && /UTF-8/i.test(JSON.stringify(r.body)) ? [] : ['expected a 400 about UTF-8'],
      );
      const overlong = Buffer.concat([Buffer.from(before), Buffer.from([0xc0, 0xaf]), Buffer.from(after)]);
      f.check(`${op.key} overlong C0 AF`, await sendRaw(op, overlong), (r) =>
        r.status === 400 ? [] : ['expected a 400'],
      );
      const surrogate = `${before}\\ud800${after}`;
      f.check(`${op.key} lone surrogate`, await sendRaw(op, surrogate), (r) =>
        r.status === 400 && namesField(r, ['zz_text']) ? [] : ['expected a 400 naming zz_text'],
      );
      // In every string field the route has: a lone surrogate or a NUL is refused, naming the field.
      for (const field of fieldsOf(op.body as JsonSchema).filter((x) => x.schema.type === 'string')) {
        for (const bad of ['a\ud800b', '\udc00', 'nul\u0000']) {
          const res = await send(op, withField(base(op), field.path, bad));
          f.check(`${op.key} ${field.path.join('.')}=${JSON.stringify(bad)}`, res, fieldIs400(field.path));
        }
      }
    }
    expect(f.list).toEqual([]);
  });

  it('a 10 MB body: 413 on every route', async () => {
    const f = new Findings();
    const big = JSON.stringify({ blob: 'b'.repeat(10 * 1024 * 1024) });
    for (const op of ops.filter((o) => o.method !== 'GET')) {
      const path = op.path.replace(/\{[^}]+\}/g, 'garbage-token');
      const res = await inject(api.app, { method: op.method, url: path, headers, raw: big });
      f.check(`${op.key} 10 MB`, res, (r) => (r.status === 413 ? [] : ['expected 413']));
    }
    expect(f.list).toEqual([]);
  });

  it('bodies that are not an object (empty, null, arrays, numbers, strings, malformed): 400', async () => {
    const f = new Findings();
    const bodies = ['', 'null', '[]', '[{}]', '42', '-1e999', '"text"', 'true', '{', '{"a":1}}', '\u0000', '{"a":1,}'];
    for (const op of jsonOps) {
      for (const raw of bodies) {
        f.check(`${op.key} body ${JSON.stringify(raw)}`, await sendRaw(op, raw), fieldIs400(['body']));
      }
    }
    expect(f.list).toEqual([]);
  });

  it('GET routes and the bulk file routes with garbage in their paths: never a 5xx', async () => {
    const f = new Findings();
    const garbage = [
      'x',
      '%00',
      '%ff%fe',
      '..%2f..%2fetc',
      'a'.repeat(5000),
      'rfp.created',
      'nosuch.type',
      '%E2%80%AE',
    ];
    for (const op of ops.filter((o) => o.pathParams.length || o.method === 'GET')) {
      if (op.path === '/metrics') continue;
      for (const g of garbage) {
        const url = op.path.replace(/\{[^}]+\}/g, g);
        const res = await inject(api.app, {
          method: op.method,
          url,
          headers: op.method === 'PUT' ? { ...headers, 'content-type': 'application/octet-stream' } : headers,
          ...(op.method === 'PUT' ? { raw: Buffer.from('{"line":1}\n') } : {}),
        });
        f.check(`${op.method} ${url.slice(0, 80)}`, res, (r) =>
          op.pathParams.length && r.status < 400 && g !== 'rfp.created' ? ['garbage accepted'] : [],
        );
      }
    }
    expect(f.list).toEqual([]);
  });

  describe('fast-check (seed printed on failure)', () => {
    const runs = { mutated: 1000, documents: 400, text: 200, headers: 400 };
    const total = Object.values(runs).reduce((a, b) => a + b, 0);
    const jsonArb = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
    // Every case runs (properties collect findings rather than fail), so one run lists them all with its seed.
    const params = (numRuns: number, offset: number) => ({ numRuns, seed: SEED + offset });

    it(`runs at least 2,000 cases (${total})`, () => {
      expect(total).toBeGreaterThanOrEqual(2000);
    });

    it('mutated valid bodies: field set to any JSON, removed, or added', async () => {
      const f = new Findings();
      const mutation = fc.oneof(
        fc.record({ op: fc.constant('set' as const), field: fc.nat(), value: jsonArb }),
        fc.record({ op: fc.constant('delete' as const), field: fc.nat() }),
        fc.record({ op: fc.constant('add' as const), key: fc.string({ maxLength: 12 }), value: jsonArb }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: jsonOps.length - 1 }),
          fc.array(mutation, { minLength: 1, maxLength: 3 }),
          async (i, mutations) => {
            const op = jsonOps[i];
            const fields = fieldsOf(op.body as JsonSchema);
            let body = base(op);
            for (const m of mutations) {
              if (m.op === 'add') body = { ...body, [m.key]: m.value };
              else if (fields.length) {
                const field = fields[m.field % fields.length];
                body = withField(body, field.path, m.op === 'set' ? m.value : undefined);
              }
            }
            const res = await send(op, body);
            f.check(`${op.key} ${JSON.stringify(body).slice(0, 300)}`, res);
          },
        ),
        params(runs.mutated, 0),
      );
      expect(f.count).toBe(runs.mutated);
      expect({ seed: SEED, failures: f.list }).toEqual({ seed: SEED, failures: [] });
    });

    it('any JSON document as the body', async () => {
      const f = new Findings();
      const doc = fc.oneof(jsonArb, fc.dictionary(fc.string({ maxLength: 10 }), jsonArb, { maxKeys: 6 }));
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: jsonOps.length - 1 }), doc, async (i, body) => {
          f.check(`${jsonOps[i].key} ${JSON.stringify(body).slice(0, 300)}`, await send(jsonOps[i], body));
        }),
        params(runs.documents, 1),
      );
      expect({ seed: SEED, failures: f.list }).toEqual({ seed: SEED, failures: [] });
    });

    it('any text (and any bytes) as a JSON body', async () => {
      const f = new Findings();
      const text = fc.oneof(
        fc.string({ maxLength: 60, unit: 'binary' }).map((s) => Buffer.from(s)),
        fc
          .uint8Array({ maxLength: 60 })
          .map((a) => Buffer.concat([Buffer.from('{"a":"'), Buffer.from(a), Buffer.from('"}')])),
      );
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: jsonOps.length - 1 }), text, async (i, raw) => {
          f.check(`${jsonOps[i].key} raw ${raw.toString('hex').slice(0, 120)}`, await sendRaw(jsonOps[i], raw));
        }),
        params(runs.text, 2),
      );
      expect({ seed: SEED, failures: f.list }).toEqual({ seed: SEED, failures: [] });
    });

    it('garbage headers: Idempotency-Key, x-orgcode, content-type, authorization', async () => {
      const f = new Findings();
      // What can arrive in an HTTP header: latin1 text without control characters (tab aside).
      const headerText = fc
        .string({ maxLength: 300, unit: 'binary' })
        .map((s) =>
          [...Buffer.from(s).toString('latin1')].filter((c) => c === '\t' || (c >= ' ' && c !== '\u007f')).join(''),
        );
      const headerArb = fc.record(
        {
          'idempotency-key': headerText,
          'x-orgcode': headerText,
          'content-type': fc.oneof(
            fc.constantFrom(
              'application/json',
              'application/json; charset=utf-8',
              'application/json; charset=latin1',
              'application/JSON',
              'text/plain',
              'application/x-www-form-urlencoded',
              'multipart/form-data; boundary=x',
              'application/octet-stream',
            ),
            headerText,
          ),
          authorization: fc.oneof(
            headerText,
            fc.constant(headers.authorization),
            headerText.map((s) => `Bearer ${s}`),
          ),
          'x-api-key': headerText.map((s) => `ipm_${s}`),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: jsonOps.length - 1 }), headerArb, async (i, extra) => {
          const op = jsonOps[i];
          const res = await inject(api.app, {
            method: op.method,
            url: op.path,
            headers: { ...headers, ...(extra as Record<string, string>) },
            raw: JSON.stringify(base(op)),
          });
          f.check(`${op.key} headers ${JSON.stringify(extra).slice(0, 300)}`, res);
        }),
        params(runs.headers, 3),
      );
      expect({ seed: SEED, failures: f.list }).toEqual({ seed: SEED, failures: [] });
    });
  });
});

/** For a 400, at least one detail names a field (a body path, `body`, or a header). */
function validationNamesAField(res: Answer): string[] {
  if (res.status !== 400) return [];
  const error = (res.body as { error?: { details?: Array<{ field?: unknown }> } }).error;
  return error?.details?.some((d) => typeof d.field === 'string' && d.field) ? [] : ['400 names no field'];
}

/** The body's JSON text with `zz_deep` holding objects nested `depth` levels deep (counting the body). */
function withNesting(body: JsonObject, depth: number): string {
  const inner = '{"a":'.repeat(depth - 2) + '{}' + '}'.repeat(depth - 2);
  const text = JSON.stringify(body);
  return text === '{}' ? `{"zz_deep":${inner}}` : `${text.slice(0, -1)},"zz_deep":${inner}}`;
}
