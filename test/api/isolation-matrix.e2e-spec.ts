import { DataSource } from 'typeorm';
import { ALL_PERMISSIONS } from '@ipm/auth';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import {
  describeRoutes,
  IdKind,
  JsonObject,
  loadOpenApi,
  RouteOperation,
  routesWithoutIds,
  validBody,
  withField,
} from '../support/openapi-routes';
import { TestReceiver } from '../support/receiver';
import { Answer, envelopeProblems, inject } from '../support/routes-client';
import { createFixtures, TenantFixtures } from '../support/routes-fixtures';

/**
 * Issue 9, point 4: the tenant isolation matrix, generated from /docs-json. Every tenant route is
 * called as tenant A with tenant B's ids in every id field (one at a time, then all together): a
 * 404 that says nothing of B. Lists filtered by B's ids show none of B's rows. Then the same for
 * API keys bound to app X against app Y's records in one tenant. Afterwards B's (and Y's) rows are
 * exactly as they were.
 */

jest.setTimeout(120_000);

const RUN_PREFIX = process.env.QUEUE_PREFIX ?? 'ipm-test-local';
const saved = { ...process.env };

/** Routes whose request carries no record id: a new route with ids must be classified in ROUTES. */
const NO_IDS = [
  'GET /health/live',
  'GET /health/ready',
  'GET /ipm/stat',
  'POST /ipm/bulk/import/create',
  'POST /ipm/bulk/job/list',
  'POST /ipm/cdc/list',
  'POST /ipm/event/catalog/list',
  'POST /ipm/event/catalog/upsert',
  'POST /ipm/event/publish',
  'POST /ipm/event/type/list',
  'POST /ipm/export/contract/list',
  'POST /ipm/kpi/alert',
  'POST /ipm/kpi/query',
  'POST /ipm/kpi/record',
  'POST /ipm/lifecycle/list',
  'POST /ipm/pagination/get',
];

/** Tenant-wide records (not owned by an app): the app matrix does not expect them hidden. */
const TENANT_WIDE = (m: string) => /^(svc_|catalog-|specimen-)/.test(m);

interface Attacker {
  name: string;
  headers: Record<string, string>;
  own: TenantFixtures;
  victim: TenantFixtures;
  /** Markers of the victim's records this attacker must never see. */
  markers: string[];
  /** Kinds of ids this matrix swaps (the app matrix leaves tenant-wide catalog types alone). */
  kinds: Set<IdKind>;
}

describe('isolation matrix (generated from /docs-json)', () => {
  let api: TestApi;
  let receiver: TestReceiver;
  let ops: RouteOperation[];
  let tenantMatrix: Attacker;
  let appMatrix: Attacker;
  const orgA = uniqueOrg('isoa');
  const orgB = uniqueOrg('isob');
  const orgC = uniqueOrg('isoc');
  const db = () => api.app.get(DataSource);

  beforeAll(async () => {
    process.env.QUEUE_PREFIX = `${RUN_PREFIX}:isolation-matrix`;
    process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';
    process.env.WEBHOOK_VERIFY_TIMEOUT_MS = '300';
    receiver = await new TestReceiver().start();
    api = await startApi();
    ops = describeRoutes(await loadOpenApi(api.app)).filter((o) => o.spec.kind !== 'excluded' && o.tenant);

    const jwt = async (org: string) =>
      bearer(await token(api.config, { sub: `admin-${org}`, orgs: [org], permissions: [...ALL_PERMISSIONS] }));
    const [a, b, c] = [await jwt(orgA), await jwt(orgB), await jwt(orgC)];
    const A = await createFixtures(api.app, { headers: a, orgcode: orgA }, receiver.origin, 'tenantA');
    const B = await createFixtures(api.app, { headers: b, orgcode: orgB }, receiver.origin, 'tenantB');
    tenantMatrix = {
      name: 'tenant A with tenant B ids',
      headers: { ...a, 'x-orgcode': orgA },
      own: A,
      victim: B,
      markers: B.markers,
      kinds: new Set<IdKind>(['webhook', 'delivery', 'job', 'replay', 'key', 'audit_target', 'event_type']),
    };

    // One tenant, two apps: a key of each, with every permission, makes that app's records.
    const appKey = async (app_id: string) => {
      const res = await inject(api.app, {
        method: 'POST',
        url: '/ipm/apikey/create',
        headers: { ...c, 'x-orgcode': orgC },
        json: { name: `key for ${app_id}`, app_id, permissions: [...ALL_PERMISSIONS] },
      });
      expect(res.status).toBe(200);
      return { 'x-api-key': (res.body as { data: { key: string } }).data.key };
    };
    const [x, y] = [await appKey('app_x'), await appKey('app_y')];
    const X = await createFixtures(api.app, { headers: x, orgcode: orgC, app_id: 'app_x' }, receiver.origin, 'appX');
    const Y = await createFixtures(api.app, { headers: y, orgcode: orgC, app_id: 'app_y' }, receiver.origin, 'appY');
    appMatrix = {
      name: 'app X key with app Y ids',
      headers: { ...x, 'x-orgcode': orgC },
      own: X,
      victim: Y,
      markers: Y.markers.filter((m) => !TENANT_WIDE(m)),
      kinds: new Set<IdKind>(['webhook', 'delivery', 'job', 'replay', 'key', 'audit_target', 'app']),
    };
  });
  afterAll(async () => {
    await api?.close();
    await receiver?.close();
    process.env = saved;
  });

  type Call = [RouteOperation, JsonObject];
  const call = (op: RouteOperation, json: JsonObject): Call => [op, json];
  const send = (who: Attacker, op: RouteOperation, json: JsonObject, url = op.path) =>
    inject(api.app, { method: op.method, url, headers: who.headers, json: op.method === 'GET' ? undefined : json });

  /**
   * Problems with an answer to `who`: a 5xx, no envelope, or any of the victim's strings in it
   * other than those the request itself carried (an error may quote the id or type it was given).
   */
  const problems = (who: Attacker, res: Answer, sent: unknown = ''): string[] => {
    const request = JSON.stringify(sent);
    return [
      ...envelopeProblems(res, api.config.BUILD_ID),
      ...who.markers.filter((m) => res.raw.includes(m) && !request.includes(m)).map((m) => `leaks ${m}`),
    ];
  };

  /** The attacker's own valid body; /webhook/test on a paused webhook (an active one waits for a worker). */
  const ownBody = (who: Attacker, op: RouteOperation): JsonObject =>
    op.key === 'POST /ipm/webhook/test'
      ? { ...validBody(op, who.own), webhook_id: who.own.paused_webhook_id }
      : validBody(op, who.own);

  /** The victim's value for an id field of the route. */
  const victimValue = (who: Attacker, op: RouteOperation, field: string, kind: IdKind): string | undefined => {
    const v = who.victim;
    switch (kind) {
      case 'event_type':
        return `${v.catalog_service}.happened`;
      case 'audit_target':
        return v.webhook_id;
      case 'app':
        return v.app_id ?? undefined;
      default: {
        // The victim's valid body holds its record of the same role in the same field (e.g. its
        // cancellable job for /bulk/job/cancel); filters are not in valid bodies.
        const fromBody = validBody(op, v)[field];
        if (typeof fromBody === 'string' && fromBody !== validBody(op, who.own)[field]) return fromBody;
        const byKind: Partial<Record<IdKind, string>> = {
          webhook: v.webhook_id,
          delivery: v.delivery_id,
          job: v.job_id,
          replay: v.replay_id,
          key: v.key_id,
        };
        return byKind[kind];
      }
    }
  };

  it('classifies every tenant route: the ones without ids are exactly NO_IDS', () => {
    expect(routesWithoutIds(ops)).toEqual(NO_IDS.filter((k) => ops.some((o) => o.key === k)));
    expect(ops.length).toBeGreaterThanOrEqual(40);
  });

  describe.each([
    ['tenants', () => tenantMatrix],
    ['apps of one tenant', () => appMatrix],
  ])('%s', (_label, who) => {
    let before: string[];
    let victimHeaders: Record<string, string>;
    let victimNextToken: string;
    let victimIdempotencyKey: string;
    beforeAll(async () => {
      const a = who();
      victimHeaders =
        a === tenantMatrix ? await adminHeaders(orgB) : { ...(await appHeaders(a.victim)), 'x-orgcode': orgC };
      // A page token of the victim's webhook list, and a create of the victim's under an Idempotency-Key.
      const page = await inject(api.app, {
        method: 'POST',
        url: '/ipm/webhook/list',
        headers: victimHeaders,
        json: { limit: 1 },
      });
      victimNextToken = (page.body as { data: { next_token: string } }).data.next_token;
      expect(victimNextToken).toEqual(expect.any(String));
      victimIdempotencyKey = `iso-${tagOf(a.victim)}`;
      const first = await inject(api.app, {
        method: 'POST',
        url: '/ipm/webhook/create',
        headers: { ...victimHeaders, 'idempotency-key': victimIdempotencyKey },
        json: { endpoint_url: a.victim.endpoint_url, name: `idem-${tagOf(a.victim)}` },
      });
      expect(first.status).toBe(200);
      a.markers.push(`idem-${tagOf(a.victim)}`, (first.body as { data: { webhook_id: string } }).data.webhook_id);
      before = await snapshot(db(), a.victim);
    });

    it("the attacker's own calls on every route show none of the victim's records", async () => {
      const found: string[] = [];
      for (const op of ops) {
        const url = op.path.replace('{event_type}', 'rfp.created');
        const res = await send(who(), op, ownBody(who(), op), url);
        for (const p of problems(who(), res)) found.push(`${op.key}: ${res.status} ${p}`);
      }
      expect(found).toEqual([]);
    });

    it("every id field holding the victim's id (one at a time, then all): 404, nothing of the victim", async () => {
      const found: string[] = [];
      let cases = 0;
      for (const op of ops) {
        const ids = Object.entries(op.spec.ids ?? {}).filter(([, kind]) => who().kinds.has(kind));
        if (!ids.length) continue;
        const own = ownBody(who(), op);
        const swaps = ids.map(([field, kind]) => [field, victimValue(who(), op, field, kind), kind] as const);
        const variants: Array<[string, JsonObject, string]> = swaps.map(([field, value, kind]) => [
          field,
          withField(own, [field], value as string),
          kind,
        ]);
        if (swaps.length > 1) {
          variants.push(['all', swaps.reduce((b, [field, value]) => withField(b, [field], value as string), own), '']);
        }
        for (const [what, body, kind] of variants) {
          cases++;
          // The GET route takes its id in the path: the same swap, in the URL.
          const pathId = body.event_type;
          const url = typeof pathId === 'string' ? op.path.replace('{event_type}', pathId) : op.path;
          const res = await send(who(), op, body, url);
          // An event type the attacker's catalog lacks is unknown to it: 404, or 422 where the
          // route reports unknown event types (/webhook/test), never the victim's type.
          const ok = res.status === 404 || (kind === 'event_type' && res.status === 422);
          if (!ok) found.push(`${op.key} [${what}]: expected 404, got ${res.status} ${res.raw.slice(0, 160)}`);
          for (const p of problems(who(), res, body)) found.push(`${op.key} [${what}]: ${res.status} ${p}`);
        }
      }
      expect(cases).toBeGreaterThan(15);
      expect(found).toEqual([]);
    });

    it("lists filtered by the victim's ids: none of the victim's rows", async () => {
      const found: string[] = [];
      for (const op of ops) {
        for (const [field, kind] of Object.entries(op.spec.filters ?? {})) {
          if (!who().kinds.has(kind)) continue;
          const value = victimValue(who(), op, field, kind);
          if (value === undefined) continue;
          const body = withField({ ...ownBody(who(), op), ...op.spec.filterBody }, [field], value);
          const res = await send(who(), op, body);
          if (res.status !== 200 && res.status !== 404) found.push(`${op.key} [${field}]: ${res.status}`);
          const items = (res.body as { data?: { items?: unknown[] } }).data?.items;
          if (op.key.endsWith('/list') && res.status === 200 && items?.length) {
            found.push(`${op.key} [${field}]: ${items.length} rows`);
          }
          for (const p of problems(who(), res, body)) found.push(`${op.key} [${field}]: ${res.status} ${p}`);
        }
      }
      expect(found).toEqual([]);
    });

    it("naming the victim's keys (KPI code, event type, page token, Idempotency-Key) reveals nothing", async () => {
      const a = who();
      const op = (key: string) => ops.find((o) => o.key === key) as RouteOperation;
      const kpiKey = { kpi_code: a.victim.kpi_code, bucket: 'hourly', bucket_start: '2026-01-01T00:00:00Z' };
      const checks: Array<[string, Call, (r: Answer) => boolean]> = [
        // The victim's snapshot is not the attacker's: nothing to evaluate, nothing in a query.
        [
          'kpi/alert on the victim snapshot',
          call(op('POST /ipm/kpi/alert'), { alert: { ...kpiKey, threshold: { comparator: 'gt', value: 1 } } }),
          (r) => r.status === 404,
        ],
        [
          'kpi/query of the victim code',
          call(op('POST /ipm/kpi/query'), {
            kpi_code: a.victim.kpi_code,
            bucket: 'hourly',
            from_utc: '2026-01-01T00:00:00Z',
            to_utc: '2026-01-02T00:00:00Z',
          }),
          (r) => r.status === 200 && (r.body as { data: { series: unknown[] } }).data.series.length === 0,
        ],
        // Recording the same key: across tenants a new snapshot of the attacker's (not a 428 betraying the
        // victim's); within a tenant the key is the tenant's, and another app's snapshot is refused (403).
        [
          'kpi/record on the victim key',
          call(op('POST /ipm/kpi/record'), { kpi: { ...kpiKey, value: 1 } }),
          (r) =>
            a === tenantMatrix
              ? r.status === 200 && (r.body as { data: { kpi: { revision: string } } }).data.kpi.revision === '1'
              : r.status === 403,
        ],
        // Evaluating the victim's alert with a value of one's own: another tenant's is not there (a new alert),
        // another app's is refused (403) and left as it was.
        [
          'kpi/alert with a value on the victim alert key',
          call(op('POST /ipm/kpi/alert'), {
            alert: { ...kpiKey, value: 0, threshold: { comparator: 'gt', value: 1 } },
          }),
          (r) =>
            a === tenantMatrix
              ? r.status === 200 && (r.body as { data: { created: boolean } }).data.created
              : r.status === 403,
        ],
        // The victim's event_id is not a duplicate of the attacker's: across tenants it is stored; within a
        // tenant event ids are the tenant's, so another app's may be a duplicate (its payload never shown).
        [
          "event/publish with the victim's event_id",
          call(op('POST /ipm/event/publish'), {
            events: [{ event_type: a.own.event_type, payload: a.own.payload, event_id: a.victim.event_id }],
          }),
          (r) => {
            const status = (r.body as { data?: { items?: Array<{ status: string }> } }).data?.items?.[0]?.status;
            return r.status === 200 && (status === 'stored' || (a === appMatrix && status === 'duplicate'));
          },
        ],
        [
          'cdc/list by the victim logical_guid',
          call(op('POST /ipm/cdc/list'), { logical_guid: 'guid-' + tagOf(a.victim) }),
          (r) => r.status === 200 && (r.body as { data: { items: unknown[] } }).data.items.length === 0,
        ],
      ];
      if (a === tenantMatrix) {
        checks.push(
          [
            'specimen/get of the victim type',
            call(op('POST /ipm/specimen/get'), { name: `${a.victim.catalog_service}.happened` }),
            (r) => r.status === 404,
          ],
          [
            'catalog/upsert of the victim type name: a new type of the attacker',
            call(op('POST /ipm/event/catalog/upsert'), {
              service: a.victim.catalog_service,
              action: 'happened',
              description: 'mine',
              schema: { type: 'object' },
              specimen: {},
            }),
            (r) => r.status === 200,
          ],
        );
      }
      const found: string[] = [];
      // One at a time, in order (the record makes a snapshot the alerts after it may see).
      for (const [what, [route, body], ok] of checks) {
        const res = await send(a, route, body);
        if (!ok(res)) found.push(`${what}: ${res.status} ${res.raw.slice(0, 200)}`);
        for (const p of problems(a, res, body)) found.push(`${what}: ${p}`);
      }

      // A page token of the victim's list is not the attacker's: a 400, no rows.
      const list = op('POST /ipm/webhook/list');
      const stolen = await send(a, list, { limit: 1, next_token: victimNextToken });
      if (stolen.status !== 400) found.push(`victim next_token: ${stolen.status} ${stolen.raw.slice(0, 200)}`);
      for (const p of problems(a, stolen)) found.push(`victim next_token: ${p}`); // the token is opaque: no marker

      // The victim's Idempotency-Key is the victim's: the attacker's request with it runs as new.
      const create = op('POST /ipm/webhook/create');
      const mine = await inject(api.app, {
        method: 'POST',
        url: create.path,
        headers: { ...a.headers, 'idempotency-key': victimIdempotencyKey },
        json: { endpoint_url: a.own.endpoint_url, name: 'attacker' },
      });
      if (mine.status !== 200 || mine.headers['idempotent-replayed']) {
        found.push(`victim Idempotency-Key: ${mine.status} ${mine.raw.slice(0, 200)}`);
      }
      for (const p of problems(a, mine)) found.push(`victim Idempotency-Key: ${p}`);
      expect(found).toEqual([]);
    });

    if (_label === 'apps of one tenant') {
      it("an app key naming another app on a create makes the record its own app's", async () => {
        const a = who();
        const found: string[] = [];
        for (const op of ops.filter((o) => o.spec.owners)) {
          for (const field of Object.keys(op.spec.owners ?? {})) {
            const res = await send(a, op, withField(ownBody(a, op), [field], a.victim.app_id));
            const data = (res.body as { data?: { app_id?: string; api_key?: { app_id?: string } } }).data;
            const owner = data?.api_key?.app_id ?? data?.app_id;
            if (res.status === 200 && owner !== a.own.app_id) found.push(`${op.key}: created for ${owner}`);
            if (res.status !== 200 && res.status !== 403 && res.status !== 404) found.push(`${op.key}: ${res.status}`);
            found.push(...envelopeProblems(res, api.config.BUILD_ID).map((p) => `${op.key}: ${p}`));
          }
        }
        expect(found).toEqual([]);
      });
    }

    it("leaves the victim's records exactly as they were", async () => {
      expect(await snapshot(db(), who().victim)).toEqual(before);
    });
  });

  const adminHeaders = async (org: string) => ({
    ...bearer(await token(api.config, { sub: `admin-${org}`, orgs: [org], permissions: [...ALL_PERMISSIONS] })),
    'x-orgcode': org,
  });
  /** A fresh key of the victim's app (its own records' pages and keys). */
  const appHeaders = async (victim: TenantFixtures) => {
    const res = await inject(api.app, {
      method: 'POST',
      url: '/ipm/apikey/create',
      headers: await adminHeaders(victim.orgcode),
      json: { name: 'victim pager', app_id: victim.app_id as string, permissions: [...ALL_PERMISSIONS] },
    });
    return { 'x-api-key': (res.body as { data: { key: string } }).data.key };
  };
});

/** The fixture tag (the suffix of its webhook name). */
function tagOf(f: TenantFixtures): string {
  const name = f.markers.find((m) => m.startsWith('hook-')) as string;
  return name.slice('hook-'.length);
}

/**
 * Every row the victim owns, whole, as JSON text: records of the victim's tenant, or, for an app
 * victim, of its app (and the attempts and replays of its webhooks).
 */
async function snapshot(db: DataSource, victim: TenantFixtures): Promise<string[]> {
  const app = victim.app_id;
  const owned = app === null ? 'orgcode = $1' : 'orgcode = $1 AND app_id = $2';
  const params = app === null ? [victim.orgcode] : [victim.orgcode, app];
  const byWebhook = `webhook_id IN (SELECT webhook_id FROM webhooks WHERE ${owned})`;
  const tables: Array<[string, string]> = [
    ['webhooks', owned],
    ['deliveries', owned],
    ['bulk_jobs', owned],
    ['api_keys', owned],
    ['kpi_snapshots', owned],
    ['kpi_alerts', owned],
    ['events', owned],
    ['delivery_attempts', byWebhook],
    ['webhook_replays', byWebhook],
  ];
  if (app === null) tables.push(['event_types', 'orgcode = $1']);
  const rows: string[] = [];
  for (const [table, where] of tables) {
    const found: Array<{ row: string }> = await db.query(
      `SELECT to_jsonb(t)::text AS row FROM ${table} t WHERE ${where} ORDER BY 1`,
      params,
    );
    rows.push(`${table}: ${found.length}`, ...found.map((r) => `${table} ${r.row}`));
  }
  return rows;
}
