import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Answer } from './routes-client';

/**
 * A response validator built from the OpenAPI document alone (what a validating proxy or a generated
 * client relies on): for one answer of one operation, what the document does not declare. Undeclared
 * status, media type or header; a body that does not match the schema, where objects that list their
 * properties are closed (a property the document does not name is a finding), and OpenAPI's
 * `nullable` means null is allowed. Headers of HTTP itself (length, date, encoding, ...) are not the
 * document's business.
 */

type Schema = Record<string, unknown>;

interface HeaderDoc {
  $ref?: string;
  required?: boolean;
  schema?: Schema;
}
interface ResponseDoc {
  $ref?: string;
  description?: string;
  headers?: Record<string, HeaderDoc>;
  content?: Record<string, { schema?: Schema }>;
}
interface OperationDoc {
  responses: Record<string, ResponseDoc>;
}
export interface ContractDocument {
  info: { version: string };
  paths: Record<string, Record<string, OperationDoc>>;
  components: { schemas: Record<string, Schema>; headers?: Record<string, HeaderDoc> };
}

/** Set by HTTP and the server, not by the api's contract. */
const TRANSPORT_HEADERS = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-encoding',
  'vary',
]);

const SCHEMA_ID = 'openapi';

/** An OpenAPI 3.0 schema as JSON Schema (draft-07, as ajv reads it), with listed objects closed. */
function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const { nullable, example, examples, ...rest } = schema as Schema;
  void example;
  void examples;
  const out: Schema = {};
  for (const [k, v] of Object.entries(rest)) {
    if (k === '$ref' && typeof v === 'string')
      out.$ref = v.replace('#/components/schemas/', `${SCHEMA_ID}#/definitions/`);
    else if (k === 'properties' || k === 'definitions') {
      out[k] = Object.fromEntries(Object.entries(v as Schema).map(([name, s]) => [name, toJsonSchema(s)]));
    } else if (k === 'enum' || k === 'required' || k === 'default') out[k] = v;
    else out[k] = toJsonSchema(v);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  if (nullable === true) {
    // `nullable` with an enum or a $ref: null is still allowed (OpenAPI 3.0 means it for the whole schema).
    return { anyOf: [{ type: 'null' }, out] };
  }
  return out;
}

export class ResponseValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly doc: ContractDocument) {
    this.ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema({ $id: SCHEMA_ID, definitions: toJsonSchema(doc.components.schemas) as Schema });
  }

  /** Every way `res` differs from what the document declares for `method path` (empty when none). */
  problems(method: string, path: string, res: Pick<Answer, 'status' | 'headers' | 'raw'>): string[] {
    const op = this.doc.paths[path]?.[method.toLowerCase()];
    if (!op) return [`${method} ${path} is not in the document`];
    const declared = op.responses[String(res.status)];
    if (!declared) return [`status ${res.status} is not declared (declared: ${Object.keys(op.responses).join(', ')})`];
    const response = this.resolve<ResponseDoc>(declared);
    return [...this.headerProblems(response, res.headers), ...this.bodyProblems(method, path, res, response)];
  }

  private resolve<T extends { $ref?: string }>(obj: T): T {
    if (!obj.$ref) return obj;
    const [, , kind, name] = obj.$ref.split('/');
    const target = (this.doc.components as unknown as Record<string, Record<string, T>>)[kind]?.[name];
    if (!target) throw new Error(`unresolved ${obj.$ref}`);
    return target;
  }

  private headerProblems(response: ResponseDoc, headers: Record<string, unknown>): string[] {
    const problems: string[] = [];
    const declared = new Map(
      Object.entries(response.headers ?? {}).map(([name, h]) => [name.toLowerCase(), this.resolve(h)]),
    );
    for (const [name, value] of Object.entries(headers)) {
      const key = name.toLowerCase();
      if (TRANSPORT_HEADERS.has(key)) continue;
      const doc = declared.get(key);
      if (!doc) {
        problems.push(`header ${key} is not declared`);
        continue;
      }
      if (doc.schema?.type === 'integer' && !/^\d+$/.test(String(value))) {
        problems.push(`header ${key}: ${String(value)} is not an integer`);
      }
      const allowed = doc.schema?.enum;
      if (Array.isArray(allowed) && !allowed.includes(String(value))) {
        problems.push(`header ${key}: ${String(value)} is not one of ${allowed.join(', ')}`);
      }
    }
    for (const [name, doc] of declared) {
      if (doc.required && headers[name] === undefined) problems.push(`required header ${name} is missing`);
    }
    return problems;
  }

  private bodyProblems(
    method: string,
    path: string,
    res: Pick<Answer, 'status' | 'headers' | 'raw'>,
    response: ResponseDoc,
  ): string[] {
    const contentType = res.headers['content-type'];
    const type = (typeof contentType === 'string' ? contentType : '').split(';', 1)[0].trim().toLowerCase();
    const content = response.content ?? {};
    if (!type)
      return res.raw.length && Object.keys(content).length === 0
        ? []
        : res.raw.length
          ? ['a body without a content-type']
          : [];
    const media = content[type];
    if (!media) return [`media type ${type} is not declared (declared: ${Object.keys(content).join(', ') || 'none'})`];
    if (type !== 'application/json' || !media.schema) return [];
    let body: unknown;
    try {
      body = JSON.parse(res.raw);
    } catch {
      return ['the body is not JSON'];
    }
    const key = `${method} ${path} ${res.status} ${type}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(toJsonSchema(media.schema) as Schema);
      this.compiled.set(key, validate);
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) =>
        `body${e.instancePath} ${e.message ?? 'is invalid'}` +
        (e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '') +
        (e.keyword === 'enum' ? ` (${JSON.stringify(e.params.allowedValues).slice(0, 120)})` : ''),
    );
  }
}
