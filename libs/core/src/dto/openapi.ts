import { applyDecorators, HttpCode, Type } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  getSchemaPath,
} from '@nestjs/swagger';

export class BuildDto {
  @ApiProperty({ example: 'dev-local' })
  build_id!: string;
}

export class StatsDto {
  @ApiProperty({ example: 'POST /webhook/create' })
  call!: string;
  @ApiProperty({ example: 'ipm', enum: ['ipm'] })
  service!: string;
  @ApiProperty({ example: '2026-01-01T00:00:00.000Z', format: 'date-time' })
  timestamp_utc!: string;
}

/**
 * One problem of an error. Besides `field` and `message`, each kind of error adds the facts a client
 * may act on (which revision is current, which transitions are allowed, when to retry, ...).
 */
/** One dependency of a health check (terminus): its status and what it reports. */
const HEALTH_INDICATOR = {
  type: 'object',
  properties: { status: { type: 'string', example: 'up', description: '`up` or `down`' } },
  required: ['status'],
  additionalProperties: true,
};

/** What /health/live and /health/ready answer in `data` (a @nestjs/terminus result). */
export class HealthCheckResultDto {
  @ApiProperty({ enum: ['ok', 'error', 'shutting_down'], example: 'ok' })
  status!: string;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: HEALTH_INDICATOR,
    description: 'Dependencies that are up, by name',
  })
  info?: Record<string, unknown>;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: HEALTH_INDICATOR,
    description: 'Dependencies that are down, by name',
  })
  error?: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: HEALTH_INDICATOR, description: 'Every dependency, by name' })
  details!: Record<string, unknown>;
}

export class ErrorDetailDto {
  @ApiPropertyOptional({
    example: 'endpoint_url',
    description: 'Dotted path of the field (or `body`, or a header name) the problem is about',
  })
  field?: string;
  @ApiProperty({ example: 'endpoint_url must be a URL address' })
  message!: string;

  @ApiPropertyOptional({ example: '3', description: '409 revision_mismatch: the revision the request expected' })
  expected?: string;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: '4',
    description: '409 revision_mismatch: the current revision (null: the record does not exist)',
  })
  current?: string | null;

  @ApiPropertyOptional({ example: 'paused', description: '409 illegal_transition: the current state' })
  from?: string;
  @ApiPropertyOptional({ example: 'active', description: '409 illegal_transition: the state asked for' })
  to?: string;
  @ApiPropertyOptional({
    example: 'webhook',
    description: '409 illegal_transition: the state machine (/lifecycle/list)',
  })
  machine?: string;
  @ApiPropertyOptional({
    type: [String],
    example: ['active', 'disabled'],
    description: '409 illegal_transition: the states reachable from `from`',
  })
  allowed?: string[];

  @ApiPropertyOptional({ example: 'private', description: '422 unsafe_endpoint_url: the class of address refused' })
  reason?: string;
  @ApiPropertyOptional({ example: 'paused', description: '422: the state of the record that prevents the request' })
  status?: string;

  @ApiPropertyOptional({
    example: '/buyer/name',
    description: 'Payload validation: a JSON pointer to the value in the payload',
  })
  path?: string;
  @ApiPropertyOptional({ example: 0, description: '/event/publish: the index of the item in `events`' })
  index?: number;
  @ApiPropertyOptional({ example: 'invalid_payload', description: "/event/publish: the item's error code" })
  code?: string;
  @ApiPropertyOptional({ example: 'rfp.created', description: "/event/publish: the item's event type" })
  event_type?: string;
  @ApiPropertyOptional({
    example: 'minLength',
    description: 'Schema validation: the JSON Schema keyword that failed or was refused',
  })
  keyword?: string;
  @ApiPropertyOptional({
    example: '/properties/name/pattern',
    description: 'Schema validation: a JSON pointer into the schema, to the keyword concerned',
  })
  schema_path?: string;

  @ApiPropertyOptional({ example: 100, description: 'The limit that was reached (a count or a number of bytes)' })
  limit?: number;

  @ApiPropertyOptional({ enum: ['caller', 'tenant'], description: '429: whose bucket is empty' })
  scope?: string;
  @ApiPropertyOptional({ example: 'default', description: '429: the route class the limit applies to' })
  limit_class?: string;
  @ApiPropertyOptional({ type: 'integer', example: 2, description: '429: seconds to wait (as Retry-After)' })
  retry_after_seconds?: number;
  @ApiPropertyOptional({ type: 'integer', example: 1500, description: '429: milliseconds to wait' })
  retry_after_ms?: number;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: HEALTH_INDICATOR,
    description: '503 of /health/ready: each dependency checked, by name',
  })
  checks?: Record<string, unknown>;
}

export class ErrorBodyDto {
  @ApiProperty({
    example: 'validation_failed',
    description: 'A stable machine code (the document lists every code the api returns)',
  })
  code!: string;
  @ApiProperty({ example: 'The request is invalid' })
  message!: string;
  @ApiPropertyOptional({ type: [ErrorDetailDto] })
  details?: ErrorDetailDto[];
  @ApiPropertyOptional({
    description: 'On 500s: quote it when reporting; it is in the server log',
    example: 'err_01J…',
  })
  error_id?: string;
}

export class ErrorEnvelopeDto {
  @ApiProperty({ example: false })
  success!: boolean;
  @ApiProperty({ type: ErrorBodyDto })
  error!: ErrorBodyDto;
  @ApiProperty({ type: BuildDto })
  build!: BuildDto;
  @ApiProperty({ type: StatsDto })
  stats!: StatsDto;
}

/** What each error status means, on every route that declares it. */
export const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Validation failed: details name each bad field',
  401: 'Missing or invalid credentials',
  403: 'The caller lacks the permission',
  404: 'Unknown, or not visible to this caller',
  409: 'Revision mismatch or illegal state transition',
  413: 'Body too large',
  414: 'A path parameter is too long',
  415: 'The body is not JSON (Content-Type must be application/json)',
  422: 'Valid request that cannot apply',
  428: 'expected_revision is required',
  429: 'Rate limited: wait Retry-After seconds',
  500: 'Internal error: quote error_id when reporting it',
  503: 'A dependency (PostgreSQL) is unavailable, or the api is shutting down: retry after Retry-After seconds',
};

/** Documents error statuses with the error envelope. */
export function ApiErrors(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorEnvelopeDto),
    ...statuses.map((status) =>
      ApiResponse({ status, description: ERROR_DESCRIPTIONS[status] ?? 'Error', type: ErrorEnvelopeDto }),
    ),
  );
}

/**
 * A route's success response: the envelope with `data` of the given model (or a list page of
 * it), plus the error statuses every body-taking route can answer (400, 413). POST routes
 * answer 200, as in seed 000.
 */
export function ApiEnvelope(
  model: Type<unknown>,
  options: { list?: boolean; description?: string; errors?: number[]; status?: number } = {},
): MethodDecorator {
  const dataSchema = options.list
    ? {
        type: 'object',
        properties: {
          items: { type: 'array', items: { $ref: getSchemaPath(model) } },
          next_token: { type: 'string', description: 'Absent on the last page' },
        },
        required: ['items'],
      }
    : { $ref: getSchemaPath(model) };
  const decorators = [
    HttpCode(options.status ?? 200),
    ApiExtraModels(BuildDto, StatsDto, model),
    ApiOkResponse({
      description: options.description ?? 'Success envelope',
      schema: {
        type: 'object',
        properties: {
          success: { type: 'boolean', example: true },
          data: dataSchema,
          build: { $ref: getSchemaPath(BuildDto) },
          stats: { $ref: getSchemaPath(StatsDto) },
        },
        required: ['success', 'data', 'build', 'stats'],
      },
    }),
    ApiErrors(...(options.errors ?? [400, 413])),
  ];
  return applyDecorators(...decorators);
}
