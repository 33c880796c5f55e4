import type {
  HeaderObject,
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ReferenceObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger';
import { CODE_BY_STATUS, ERROR_DESCRIPTIONS, ErrorCode, IDEMPOTENCY_HEADER, UNMAPPED_CLIENT_ERROR } from '@ipm/core';
import { UNKNOWN_EVENT_FILTER, UNSAFE_ENDPOINT_URL, WEBHOOK_LIMIT_REACHED } from '@ipm/webhooks';
import { PublishErrorCode } from '@ipm/events';

/**
 * What the decorators cannot say route by route, added to the generated document in one place: the
 * responses every route shares (a 500, a 503 while PostgreSQL is down or the api shuts down, a 415
 * for a body that is not JSON, a 429 behind the guard, ...), the headers the api sends (x-request-id
 * on every response, the rate limit headers behind the guard, Retry-After, idempotent-replayed),
 * every error code, and closed request schemas (the ValidationPipe refuses unknown fields).
 */

/** Every `error.code` the api answers with: the shared codes and those of the features. */
export const ERROR_CODES: readonly string[] = [
  ...new Set([
    ...Object.values(ErrorCode),
    ...Object.values(CODE_BY_STATUS),
    UNMAPPED_CLIENT_ERROR,
    UNSAFE_ENDPOINT_URL,
    UNKNOWN_EVENT_FILTER,
    WEBHOOK_LIMIT_REACHED,
  ]),
].sort();

/** The response headers the api sets, as reusable components (`#/components/headers/<name>`). */
const HEADERS: Record<string, HeaderObject> = {
  RequestId: {
    description: "The request's id (the caller's x-request-id when acceptable, else a new UUID); in the log line too",
    schema: { type: 'string' },
  },
  RateLimitLimit: {
    description: "The size of the caller's rate limit bucket for this route's class",
    schema: { type: 'integer' },
  },
  RateLimitRemaining: {
    description: 'Requests left in the bucket',
    schema: { type: 'integer' },
  },
  RetryAfter: { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
  IdempotentReplayed: {
    description:
      'Present (`true`) when this is the stored response of an earlier request with the same Idempotency-Key',
    schema: { type: 'string', enum: ['true'] },
  },
};
const header = (name: keyof typeof HEADERS, required = false): HeaderObject | ReferenceObject =>
  required ? { ...HEADERS[name], required: true } : { $ref: `#/components/headers/${name}` };

const ERROR_ENVELOPE = { $ref: '#/components/schemas/ErrorEnvelopeDto' };
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'] as const;

/** Adds the shared responses, headers, error codes and closed request schemas to `doc` (in place). */
export function completeContract(doc: OpenAPIObject): void {
  doc.components ??= {};
  doc.components.headers = { ...doc.components.headers, ...HEADERS };
  const schemas = doc.components.schemas ?? {};
  const errorBody = schemas.ErrorBodyDto as SchemaObject | undefined;
  const code = errorBody?.properties?.code as SchemaObject | undefined;
  if (code) code.enum = [...ERROR_CODES];
  const detail = schemas.ErrorDetailDto as SchemaObject | undefined;
  const detailCode = detail?.properties?.code as SchemaObject | undefined;
  if (detailCode) detailCode.enum = Object.values(PublishErrorCode);

  const requestSchemas: Array<SchemaObject | ReferenceObject> = [];
  for (const item of Object.values(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      completeResponses(method, op);
      const body = op.requestBody;
      if (body && !('$ref' in body)) {
        for (const media of Object.values(body.content)) if (media.schema) requestSchemas.push(media.schema);
      }
    }
  }
  closeRequestSchemas(schemas, requestSchemas);
}

function completeResponses(method: string, op: OperationObject): void {
  const params = (op.parameters ?? []).filter((p): p is ParameterObject => !('$ref' in p));
  const secured = (op.security ?? []).length > 0;
  const idempotent = params.some((p) => p.in === 'header' && p.name.toLowerCase() === IDEMPOTENCY_HEADER);
  const takesBody = method === 'post' || method === 'put' || method === 'patch';
  const hasPathParams = params.some((p) => p.in === 'path');

  const statuses = [500, 503];
  if (takesBody) statuses.push(400, 413, 415);
  if (secured) statuses.push(401, 429);
  if (idempotent) statuses.push(400, 409, 422);
  if (hasPathParams) statuses.push(414);
  for (const status of statuses) {
    op.responses[status] ??= {
      description: ERROR_DESCRIPTIONS[status] ?? 'Error',
      content: { 'application/json': { schema: ERROR_ENVELOPE } },
    };
  }
  if (idempotent) {
    const conflict = op.responses[409] as ResponseObject;
    const inProgress = 'idempotency_key_in_progress: a request with this Idempotency-Key is still running';
    if (!conflict.description.includes(inProgress)) conflict.description += `; or ${inProgress}`;
    const reused = op.responses[422] as ResponseObject;
    const mismatch = 'idempotency_key_reused: this Idempotency-Key came with another request';
    if (!reused.description.includes(mismatch)) reused.description += `; or ${mismatch}`;
  }

  for (const [status, response] of Object.entries(op.responses)) {
    if (!response || '$ref' in response) continue;
    const headers: Record<string, HeaderObject | ReferenceObject> = { 'x-request-id': header('RequestId') };
    if (secured) {
      headers['x-ratelimit-limit'] = header('RateLimitLimit');
      headers['x-ratelimit-remaining'] = header('RateLimitRemaining');
    }
    if (status === '429') headers['retry-after'] = header('RetryAfter', true);
    if (status === '503') headers['retry-after'] = header('RetryAfter');
    if (idempotent && status.startsWith('2')) headers['idempotent-replayed'] = header('IdempotentReplayed');
    response.headers = { ...response.headers, ...headers };
  }
  op.responses = Object.fromEntries(Object.entries(op.responses).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * `additionalProperties: false` on every object schema a request body reaches (components included)
 * that lists its properties and says nothing of others: the ValidationPipe (`forbidNonWhitelisted`)
 * answers 400 to unknown fields. Objects that hold free-form JSON say `additionalProperties: true`.
 */
function closeRequestSchemas(
  components: Record<string, SchemaObject | ReferenceObject>,
  roots: Array<SchemaObject | ReferenceObject>,
): void {
  const seen = new Set<SchemaObject>();
  const visit = (schema: SchemaObject | ReferenceObject | undefined): void => {
    if (!schema) return;
    if ('$ref' in schema) {
      visit(components[schema.$ref.replace('#/components/schemas/', '')]);
      return;
    }
    if (seen.has(schema)) return;
    seen.add(schema);
    if (schema.properties && schema.additionalProperties === undefined) schema.additionalProperties = false;
    for (const prop of Object.values(schema.properties ?? {})) visit(prop);
    if (schema.items) visit(schema.items);
    for (const part of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) visit(part);
    if (typeof schema.additionalProperties === 'object') visit(schema.additionalProperties);
  };
  roots.forEach(visit);
}
