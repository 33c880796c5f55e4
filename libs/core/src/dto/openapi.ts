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

export class ErrorDetailDto {
  @ApiPropertyOptional({ example: 'endpoint_url' })
  field?: string;
  @ApiProperty({ example: 'endpoint_url must be a URL address' })
  message!: string;
}

export class ErrorBodyDto {
  @ApiProperty({ example: 'validation_failed' })
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

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Validation failed: details name each bad field',
  401: 'Missing or invalid credentials',
  403: 'The caller lacks the permission',
  404: 'Unknown, or not visible to this caller',
  409: 'Revision mismatch or illegal state transition',
  413: 'Body too large',
  422: 'Valid request that cannot apply',
  428: 'expected_revision is required',
  429: 'Rate limited',
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
  model: Type<unknown> | null,
  options: { list?: boolean; description?: string; errors?: number[]; status?: number } = {},
): MethodDecorator {
  const dataSchema = model
    ? options.list
      ? {
          type: 'object',
          properties: {
            items: { type: 'array', items: { $ref: getSchemaPath(model) } },
            next_token: { type: 'string', description: 'Absent on the last page' },
          },
          required: ['items'],
        }
      : { $ref: getSchemaPath(model) }
    : { type: 'object' };
  const decorators = [
    HttpCode(options.status ?? 200),
    ApiExtraModels(BuildDto, StatsDto, ...(model ? [model] : [])),
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
