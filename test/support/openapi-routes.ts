import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * The api's routes as /docs-json describes them, for the generated tests (route fuzzing, tenant
 * isolation): every operation with its security, tenant header and request schema (every $ref
 * resolved), and a valid body per route synthesized from that schema plus the few facts a schema
 * cannot say (ids of real records, a reachable endpoint URL, a payload that passes the catalog).
 *
 * The walker refuses routes it does not know: a route added to the api without an entry in
 * ROUTES (or an entry left behind after a route is removed) fails `describeRoutes`, so no route
 * escapes the generated tests silently.
 */

// ---------------------------------------------------------------------------------------------
// The document

export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  example?: unknown;
  default?: unknown;
  description?: string;
  allOf?: JsonSchema[];
  $ref?: string;
}

interface OpenApiParameter {
  name: string;
  in: 'header' | 'path' | 'query' | 'cookie';
  required?: boolean;
}

interface OpenApiOperation {
  operationId?: string;
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses: Record<string, unknown>;
  security?: Array<Record<string, string[]>>;
  'x-required-permission'?: string;
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, JsonSchema> };
}

/** /docs-json of a started api, through the same Fastify instance the tests call. */
export async function loadOpenApi(app: NestFastifyApplication): Promise<OpenApiDocument> {
  const res = await app.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/docs-json' });
  if (res.statusCode !== 200) throw new Error(`/docs-json answered ${res.statusCode}`);
  return res.json<OpenApiDocument>();
}

/** The schema with every $ref replaced by its target and every allOf merged (recursively). */
export function resolveSchema(doc: OpenApiDocument, schema: JsonSchema, seen: string[] = []): JsonSchema {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    if (seen.includes(name)) throw new Error(`recursive schema ${[...seen, name].join(' -> ')}`);
    const target = doc.components.schemas[name];
    if (!target) throw new Error(`unknown schema ${schema.$ref}`);
    const { $ref, ...rest } = schema;
    void $ref;
    return resolveSchema(doc, { ...target, ...rest }, [...seen, name]);
  }
  let out: JsonSchema = { ...schema };
  if (schema.allOf) {
    const { allOf, ...rest } = schema;
    out = rest;
    for (const part of allOf) {
      const r = resolveSchema(doc, part, seen);
      out = {
        ...r,
        ...out,
        properties: { ...r.properties, ...out.properties },
        required: [...(r.required ?? []), ...(out.required ?? [])],
      };
    }
  }
  if (out.properties) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([k, v]) => [k, resolveSchema(doc, v, seen)]),
    );
  }
  if (out.items) out.items = resolveSchema(doc, out.items, seen);
  if (out.additionalProperties && typeof out.additionalProperties === 'object') {
    out.additionalProperties = resolveSchema(doc, out.additionalProperties, seen);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The operations

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Ids of real records the caller owns: what valid bodies reference. */
export interface RouteFixtures {
  webhook_id: string;
  /** A paused webhook: /webhook/test refuses it at once (an active one waits for a worker). */
  paused_webhook_id: string;
  /** A webhook that /webhook/delete may delete (so the others keep theirs). */
  webhook_id_to_delete: string;
  /** A `failed` delivery, which /webhook/delivery/retry accepts. */
  delivery_id: string;
  /** An import job awaiting its upload. */
  job_id: string;
  /** An export job (queued: no worker runs in these tests). */
  export_job_id: string;
  /** A job that /bulk/job/cancel may cancel. */
  job_id_to_cancel: string;
  replay_id: string;
  key_id: string;
  /** An endpoint URL that passes the SSRF checks (an allowlisted local receiver). */
  endpoint_url: string;
  /** A catalog event type and a payload valid for it. */
  event_type: string;
  payload: JsonObject;
  /** A service name of the caller's own (for /event/catalog/upsert). */
  catalog_service: string;
  kpi_code: string;
}

/** How the generated tests treat one documented route. */
export interface RouteSpec {
  /**
   * `json`: a POST with a JSON body (fuzzed, isolation-checked); `get`: a GET with no body (fuzzed
   * through its path); `excluded`: documented but outside these tests, with the reason.
   */
  kind: 'json' | 'get' | 'excluded';
  reason?: string;
  /** Fields a schema cannot express (ids of real rows, a reachable URL, a payload the catalog accepts). */
  overrides?: (f: RouteFixtures) => JsonObject;
  /** The valid body's status when it is not 200 (with why). */
  validStatus?: number;
  /** Ids in the request that reference records (tenant and app isolation apply to them). */
  ids?: Record<string, IdKind>;
  /** Ids only filter a list or an export (absent rows, not 404). */
  filters?: Record<string, IdKind>;
  /** Fields the filters need besides a valid body (e.g. the export target they apply to). */
  filterBody?: JsonObject;
  /** Fields that name the owner of a new record (an app-bound key may only name its own app). */
  owners?: Record<string, IdKind>;
}

export type IdKind = 'webhook' | 'delivery' | 'job' | 'replay' | 'key' | 'app' | 'audit_target' | 'event_type';

const WEBHOOK_BODY = (f: RouteFixtures): JsonObject => ({ endpoint_url: f.endpoint_url, name: 'fuzz hook' });

/**
 * Every documented route. A route missing here, or an entry whose route is gone, fails the walk.
 * `ids` lists the request fields that reference one record (404 when it is not the caller's);
 * routes whose body carries no id leave both `ids` and `filters` unset and are listed in NO_IDS.
 */
export const ROUTES: Record<string, RouteSpec> = {
  'GET /ipm/stat': { kind: 'get' },
  'GET /metrics': { kind: 'excluded', reason: 'operator metrics (Prometheus text), no input' },
  'GET /health/live': { kind: 'get' },
  'GET /health/ready': { kind: 'get' },
  'GET /ipm/event/schema/{event_type}': { kind: 'get', ids: { event_type: 'event_type' } },
  'PUT /ipm/bulk/upload/{token}': {
    kind: 'excluded',
    reason: 'raw file upload behind a signed token (the bulk file tests); fuzzed with garbage tokens only',
  },
  'GET /ipm/bulk/file/{token}': {
    kind: 'excluded',
    reason: 'signed download token (the bulk file tests); fuzzed with garbage tokens only',
  },

  'POST /ipm/apikey/create': {
    kind: 'json',
    owners: { app_id: 'app' },
    overrides: () => ({ name: 'fuzz key', permissions: ['view_kpis'] }),
  },
  'POST /ipm/apikey/list': { kind: 'json', filters: { app_id: 'app' } },
  'POST /ipm/apikey/revoke': { kind: 'json', ids: { key_id: 'key' } },
  'POST /ipm/audit/list': { kind: 'json', filters: { target_id: 'audit_target' } },
  'POST /ipm/lifecycle/list': { kind: 'json' },
  'POST /ipm/event/publish': {
    kind: 'json',
    overrides: (f) => ({ events: [{ event_type: f.event_type, payload: f.payload }] }),
  },
  'POST /ipm/cdc/list': { kind: 'json' },
  'POST /ipm/event/catalog/list': { kind: 'json' },
  'POST /ipm/event/catalog/upsert': {
    kind: 'json',
    overrides: (f) => ({
      service: f.catalog_service,
      action: 'fuzzed',
      description: 'a type of the fuzz tenant',
      schema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
      specimen: { n: 1 },
    }),
  },
  'POST /ipm/event/type/list': { kind: 'json' },
  'POST /ipm/specimen/get': { kind: 'json', ids: { name: 'event_type' } },
  'POST /ipm/export/contract/list': { kind: 'json' },
  'POST /ipm/pagination/get': { kind: 'json' },

  'POST /ipm/webhook/create': { kind: 'json', owners: { app_id: 'app' }, overrides: WEBHOOK_BODY },
  'POST /ipm/webhook/get': { kind: 'json', ids: { webhook_id: 'webhook' } },
  'POST /ipm/webhook/list': { kind: 'json', filters: { app_id: 'app' } },
  'POST /ipm/webhook/update': {
    kind: 'json',
    ids: { webhook_id: 'webhook' },
    // expected_revision is required, and the fixture's revision moves: a stale one is a 409.
    overrides: () => ({ description: 'updated by the fuzzer', expected_revision: '1' }),
    validStatus: 409,
  },
  'POST /ipm/webhook/status/set': {
    kind: 'json',
    ids: { webhook_id: 'webhook' },
    overrides: () => ({ status: 'active', expected_revision: '1' }),
    validStatus: 409,
  },
  'POST /ipm/webhook/delete': {
    kind: 'json',
    ids: { webhook_id: 'webhook' },
    overrides: (f) => ({ webhook_id: f.webhook_id_to_delete }),
  },
  'POST /ipm/webhook/secret/rotate': { kind: 'json', ids: { webhook_id: 'webhook' } },
  'POST /ipm/webhook/delivery/list': { kind: 'json', filters: { webhook_id: 'webhook' } },
  'POST /ipm/webhook/delivery/get': { kind: 'json', ids: { delivery_id: 'delivery' } },
  'POST /ipm/webhook/delivery/retry': { kind: 'json', ids: { delivery_id: 'delivery' } },
  'POST /ipm/webhook/delivery/purge': { kind: 'json', ids: { webhook_id: 'webhook' } },
  'POST /ipm/webhook/replay': { kind: 'json', ids: { webhook_id: 'webhook' } },
  'POST /ipm/webhook/replay/get': { kind: 'json', ids: { replay_id: 'replay' } },
  'POST /ipm/webhook/test': {
    kind: 'json',
    ids: { webhook_id: 'webhook', event_type: 'event_type' },
    overrides: (f) => ({ event_type: f.event_type }),
  },
  'POST /ipm/webhook/verify': { kind: 'json', ids: { webhook_id: 'webhook' } },
  'POST /ipm/webhook/stats': { kind: 'json', ids: { webhook_id: 'webhook' } },

  'POST /ipm/bulk/import/create': { kind: 'json' },
  'POST /ipm/bulk/import/commit': {
    kind: 'json',
    ids: { job_id: 'job' },
    // Nothing was uploaded: the job cannot be committed yet.
    overrides: () => ({ expected_revision: '1' }),
    validStatus: 422,
  },
  'POST /ipm/bulk/import/continue': { kind: 'json', ids: { job_id: 'job' }, validStatus: 409 },
  'POST /ipm/bulk/export/create': {
    kind: 'json',
    filters: { webhook_id: 'webhook' },
    filterBody: { target: 'deliveries' },
  },
  'POST /ipm/bulk/export/continue': {
    kind: 'json',
    ids: { job_id: 'job' },
    overrides: (f) => ({ job_id: f.export_job_id }),
    // Queued, not stopped: there is nothing to continue yet.
    validStatus: 409,
  },
  'POST /ipm/bulk/job/get': { kind: 'json', ids: { job_id: 'job' } },
  'POST /ipm/bulk/job/list': { kind: 'json' },
  'POST /ipm/bulk/job/cancel': {
    kind: 'json',
    ids: { job_id: 'job' },
    overrides: (f) => ({ job_id: f.job_id_to_cancel }),
  },

  'POST /ipm/kpi/record': {
    kind: 'json',
    // Another hour than the fixture's snapshot: a new one (replacing needs expected_revision).
    overrides: (f) => ({ kpi: { ...KPI_KEY(f), bucket_start: '2026-01-01T01:00:00Z', value: 1 } }),
  },
  'POST /ipm/kpi/query': {
    kind: 'json',
    overrides: (f) => ({
      kpi_code: f.kpi_code,
      bucket: 'hourly',
      from_utc: '2026-01-01T00:00:00Z',
      to_utc: '2026-01-02T00:00:00Z',
    }),
  },
  'POST /ipm/kpi/alert': {
    kind: 'json',
    overrides: (f) => ({ alert: { ...KPI_KEY(f), value: 2, threshold: { comparator: 'gt', value: 1 } } }),
  },
};

const KPI_KEY = (f: RouteFixtures): JsonObject => ({
  kpi_code: f.kpi_code,
  bucket: 'hourly',
  bucket_start: '2026-01-01T00:00:00Z',
});

export interface RouteOperation {
  /** `POST /ipm/webhook/create` */
  key: string;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  operationId: string;
  /** Needs credentials (JWT or API key). */
  secured: boolean;
  /** Needs x-orgcode. */
  tenant: boolean;
  /** Accepts Idempotency-Key. */
  idempotent: boolean;
  /** The permission the route needs, as documented (x-required-permission). */
  permission?: string;
  pathParams: string[];
  /** Every documented parameter as `in:name` (a duplicate is a documentation bug). */
  parameters: string[];
  /** The security requirements as documented (`jwt`, `api_key`). */
  securitySchemes: string[];
  statuses: number[];
  body?: JsonSchema;
  spec: RouteSpec;
}

/**
 * Every operation of the document, checked against ROUTES both ways: throws naming each route the
 * tests do not know and each entry of ROUTES the document no longer has.
 */
export function describeRoutes(doc: OpenApiDocument): RouteOperation[] {
  const ops: RouteOperation[] = [];
  const unknown: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(methods)) {
      const method = m.toUpperCase() as RouteOperation['method'];
      const key = `${method} ${path}`;
      const spec = ROUTES[key];
      if (!spec) {
        unknown.push(key);
        continue;
      }
      const params = op.parameters ?? [];
      const schema = op.requestBody?.content?.['application/json']?.schema;
      ops.push({
        key,
        method,
        path,
        operationId: op.operationId ?? key,
        secured: (op.security ?? []).length > 0,
        tenant: params.some((p) => p.in === 'header' && p.name.toLowerCase() === 'x-orgcode' && p.required),
        idempotent: params.some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key'),
        permission: op['x-required-permission'],
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        parameters: params.map((p) => `${p.in}:${p.name.toLowerCase()}`),
        securitySchemes: (op.security ?? []).flatMap((r) => Object.keys(r)),
        statuses: Object.keys(op.responses).map(Number),
        body: schema ? resolveSchema(doc, schema) : undefined,
        spec,
      });
    }
  }
  const documented = new Set(ops.map((o) => o.key));
  const stale = Object.keys(ROUTES).filter((k) => !documented.has(k));
  if (unknown.length || stale.length) {
    throw new Error(
      [
        unknown.length
          ? `Routes in /docs-json that test/support/openapi-routes.ts does not know (add them to ROUTES): ${unknown.join(', ')}`
          : '',
        stale.length ? `ROUTES entries that /docs-json no longer has: ${stale.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
  }
  const problems: string[] = [];
  for (const op of ops) {
    if (op.spec.kind === 'json' && (op.method !== 'POST' || !op.body)) {
      problems.push(`${op.key} is listed as a JSON route but has no JSON request body in /docs-json`);
    }
    if (op.spec.kind === 'json' && op.body) problems.push(...idFieldProblems(op));
  }
  if (problems.length) throw new Error(problems.join('\n'));
  return ops;
}

/** Fields that look like record ids (`*_id`, `key_id`, ...) and are not in the route's ids/filters. */
const ID_FIELD = /(^|_)id$/;
/** Request fields named like ids that are not references to a record of the caller. */
const NOT_REFERENCES = new Set([
  // /event/publish: the client's own id for a new event (a repeat is a duplicate, not a lookup).
  'events.event_id',
  // Writes: references to the caller's own systems (a ticket, a change), recorded in the audit log.
  'source_refs.id',
]);

/** Every id-like field of the request schema must be classified (an id, a filter, an owner, or no reference). */
function idFieldProblems(op: RouteOperation): string[] {
  const classified = new Set([op.spec.ids, op.spec.filters, op.spec.owners].flatMap((m) => Object.keys(m ?? {})));
  const missing = idLikeFields(op.body as JsonSchema).filter((f) => !classified.has(f) && !NOT_REFERENCES.has(f));
  return missing.length
    ? [
        `${op.key}: the request has id fields that ROUTES does not classify (ids, filters, owners): ${missing.join(', ')}`,
      ]
    : [];
}

/** Dotted paths (array items flattened) of the id-like fields of a schema. */
export function idLikeFields(schema: JsonSchema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (ID_FIELD.test(name) && prop.type === 'string') out.push(path);
    const inner = prop.type === 'array' ? prop.items : prop;
    if (inner?.properties) out.push(...idLikeFields(inner, path));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Valid values

const FIXED_NOW = '2026-01-01T00:00:00Z';

/** A value valid for the schema (formats, enums, patterns, bounds), preferring its example. */
export function validValue(schema: JsonSchema, name = ''): Json {
  if (schema.enum?.length) return schema.enum[0] as Json;
  if (schema.example !== undefined && schema.type !== 'object') return schema.example as Json;
  switch (schema.type) {
    case 'string':
      if (schema.format === 'date-time') return FIXED_NOW;
      if (schema.pattern) throw new Error(`no example for the pattern of ${name}: add an example or an override`);
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'number':
    case 'integer':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    case 'array':
      return schema.minItems ? [validValue(schema.items ?? { type: 'string' }, `${name}[]`)] : [];
    case 'object':
    default:
      return validObject(schema, name);
  }
}

function validObject(schema: JsonSchema, name: string): JsonObject {
  const out: JsonObject = {};
  for (const field of schema.required ?? []) {
    const prop = schema.properties?.[field];
    if (!prop) throw new Error(`${name}: required field ${field} has no schema`);
    out[field] = validValue(prop, name ? `${name}.${field}` : field);
  }
  return out;
}

/** Fixture values of the id fields, by field name. */
function idValue(field: string, f: RouteFixtures): string | undefined {
  switch (field) {
    case 'webhook_id':
      return f.webhook_id;
    case 'delivery_id':
      return f.delivery_id;
    case 'job_id':
      return f.job_id;
    case 'replay_id':
      return f.replay_id;
    case 'key_id':
      return f.key_id;
    default:
      return undefined;
  }
}

/** A body the route accepts from a caller with every permission in the fixtures' tenant. */
export function validBody(op: RouteOperation, f: RouteFixtures): JsonObject {
  if (!op.body) return {};
  const body = validObject(op.body, '');
  for (const field of Object.keys(op.spec.ids ?? {})) {
    const v = idValue(field, f);
    if (v !== undefined && op.body.required?.includes(field)) body[field] = v;
  }
  Object.assign(body, op.spec.overrides?.(f) ?? {});
  return body;
}

/** Routes whose request carries no record id (neither ids nor filters): the isolation matrix checks that list. */
export function routesWithoutIds(ops: RouteOperation[]): string[] {
  return ops
    .filter((o) => o.spec.kind !== 'excluded' && !o.spec.ids && !o.spec.filters && !o.spec.owners)
    .map((o) => o.key)
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Schema walking for mutations

export interface FieldInfo {
  /** Dotted path into the body (array items as `.0`). */
  path: string[];
  schema: JsonSchema;
  required: boolean;
}

/**
 * Every field of a schema reachable from a valid body: top-level properties, properties of
 * nested objects, and the properties of the first item of arrays of objects.
 */
export function fieldsOf(schema: JsonSchema, prefix: string[] = [], depth = 0): FieldInfo[] {
  const out: FieldInfo[] = [];
  if (depth > 4) return out;
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const path = [...prefix, name];
    out.push({ path, schema: prop, required: (schema.required ?? []).includes(name) });
    if (prop.type === 'object' || prop.properties) out.push(...fieldsOf(prop, path, depth + 1));
    if (prop.type === 'array' && prop.items?.properties) out.push(...fieldsOf(prop.items, [...path, '0'], depth + 1));
  }
  return out;
}

/** The JSON type names a schema accepts. */
export function acceptedTypes(schema: JsonSchema): Set<string> {
  const types = new Set<string>();
  const t = schema.type ?? (schema.properties ? 'object' : undefined);
  if (t === 'integer') types.add('number');
  else if (t) types.add(t);
  else for (const x of ['string', 'number', 'boolean', 'array', 'object']) types.add(x);
  if (schema.nullable) types.add('null');
  return types;
}

export function jsonType(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** A deep copy of `body` with `path` set to `value` (creating objects/arrays on the way), or deleted when undefined. */
export function withField(body: JsonObject, path: string[], value: Json | undefined): JsonObject {
  const copy = structuredClone(body);
  let cur: Record<string, Json> | Json[] = copy;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i];
    const next: Json | undefined = (cur as Record<string, Json>)[k];
    if (next === null || typeof next !== 'object') {
      const fresh: Record<string, Json> | Json[] = /^\d+$/.test(path[i + 1]) ? [] : {};
      (cur as Record<string, Json>)[k] = fresh;
      cur = fresh;
    } else {
      cur = next;
    }
  }
  const last = path[path.length - 1];
  if (value === undefined) delete (cur as Record<string, Json>)[last];
  else (cur as Record<string, Json>)[last] = value;
  return copy;
}

/** Whether the body holds every parent of `path` (so that mutating `path` means something). */
export function hasParent(body: JsonObject, path: string[]): boolean {
  let cur: Json = body;
  for (const k of path.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return false;
    cur = (cur as Record<string, Json>)[k];
    if (cur === undefined) return false;
  }
  return cur !== null && typeof cur === 'object';
}
