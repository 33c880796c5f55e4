import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsDefined,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import {
  ACTION_PATTERN,
  EVENT_TYPE_PATTERN,
  ExpectedRevisionField,
  JsonDocument,
  ListRequestDto,
  MutationRequestDto,
  PAGE_DEFAULT,
  PAGE_MAX,
  PAGE_MIN,
  SERVICE_PATTERN,
} from '@ipm/core';

const SERVICE_MESSAGE = 'service must be 1-64 of a-z 0-9 _ starting with a letter';
const ACTION_MESSAGE = 'action must be lower-case words of a-z 0-9 _ joined by dots';

export class CatalogListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'rfp' })
  @IsOptional()
  @Matches(SERVICE_PATTERN, { message: SERVICE_MESSAGE })
  service?: string;

  @ApiPropertyOptional({ example: 'status_changed' })
  @IsOptional()
  @Matches(ACTION_PATTERN, { message: ACTION_MESSAGE })
  @MaxLength(135)
  action?: string;

  @ApiPropertyOptional({ example: 'webhook.', description: 'Actions starting with this text' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z0-9_.]{1,135}$/, { message: 'action_prefix must be 1-135 of a-z 0-9 _ .' })
  action_prefix?: string;

  @ApiPropertyOptional({ default: true, description: 'Include deprecated types' })
  @IsOptional()
  @IsBoolean()
  include_deprecated?: boolean;
}

export class CatalogEntryDto {
  @ApiProperty({ example: 'rfp.status_changed' }) event_type!: string;
  @ApiProperty({ example: 'rfp' }) service!: string;
  @ApiProperty({ example: 'status_changed' }) action!: string;
  @ApiProperty({ example: 1 }) version!: number;
  @ApiProperty() description!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deprecated_at!: string | null;
  @ApiProperty({ example: '/ipm/event/schema/rfp.status_changed', description: 'GET it for the JSON Schema' })
  schema_url!: string;
  @ApiProperty({ enum: ['platform', 'tenant'] }) source!: 'platform' | 'tenant';
  @ApiPropertyOptional({ example: '3', description: 'Tenant types: the record revision' }) revision?: string;
}

export class SchemaDto {
  @ApiProperty({ example: 'rfp.status_changed' }) event_type!: string;
  @ApiProperty({ example: 1 }) version!: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'The JSON Schema (draft-07) payloads are validated with',
  })
  schema!: Record<string, unknown>;
}

/** /event/type/list: a page of event type strings. */
export class EventTypeListDto {
  @ApiProperty({ type: [String], example: ['rfp.created', 'rfp.status_changed'] }) items!: string[];
  @ApiPropertyOptional({ description: 'Absent on the last page' }) next_token?: string;
}

export class EventTypeListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'rfp' })
  @IsOptional()
  @Matches(SERVICE_PATTERN, { message: SERVICE_MESSAGE })
  service?: string;
}

export class SpecimenGetRequestDto {
  @ApiProperty({ example: 'rfp.created', description: 'An event type' })
  @IsString()
  @Length(3, 200)
  @Matches(EVENT_TYPE_PATTERN, { message: 'name must be an event type such as rfp.created' })
  name!: string;
}

export class SpecimenDto {
  @ApiProperty({ example: 'rfp.created' }) name!: string;
  @ApiProperty({ example: 1 }) version!: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'An example payload (tenant JSON) that validates against the schema',
  })
  specimen!: unknown;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'object', additionalProperties: true },
    description: 'Specimens by version (the key), each an example payload',
    example: { '1': { rfp_id: 'rfp_1' } },
  })
  specimens!: Record<string, unknown>;
}

export class ExportContractListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'rfp' })
  @IsOptional()
  @Matches(SERVICE_PATTERN, { message: SERVICE_MESSAGE })
  service?: string;
}

export class ContractActionDto {
  @ApiProperty({ example: 'created' }) action!: string;
  @ApiProperty({ example: 'rfp.created' }) event_type!: string;
  @ApiProperty({ example: 1 }) version!: number;
  @ApiProperty({ example: '/ipm/event/schema/rfp.created' }) schema_url!: string;
  @ApiProperty({ type: String, nullable: true }) deprecated_at!: string | null;
}

/** One key an export stream is partitioned by. */
export class PartitionKeyDto {
  @ApiProperty({ example: 'received_at', description: 'The field of each line' }) field!: string;
  @ApiProperty({ example: 'time', description: '`tenant` (one partition per orgcode) or `time`' }) kind!: string;
  @ApiPropertyOptional({ example: 'day', description: 'Time keys: the width of a partition' }) granularity?: string;
}

export class ExportContractDto {
  @ApiProperty({ example: 'rfp' }) service!: string;
  @ApiProperty({ example: 'events', enum: ['events'] }) stream!: 'events';
  @ApiProperty({ example: 'ndjson', enum: ['ndjson'] }) format!: 'ndjson';
  @ApiProperty({ example: '1' }) version!: string;
  @ApiProperty({ type: [PartitionKeyDto], example: [{ field: 'orgcode', kind: 'tenant' }] })
  partitioning!: Array<Record<string, string>>;
  @ApiProperty({ type: [ContractActionDto] }) actions!: ContractActionDto[];
}

export class ExportContractListDto {
  @ApiProperty({ type: [ExportContractDto] }) contracts!: ExportContractDto[];
  @ApiPropertyOptional() next_token?: string;
}

/** The order each kind of list returns its items in. */
export class ListOrderingDto {
  @ApiProperty({ example: 'newest first (by id, a time-ordered ULID)' }) records!: string;
  @ApiProperty({ example: 'by event type, then name (alphabetical)' }) catalog!: string;
  @ApiProperty({ example: 'commit order, oldest first, gap-free' }) cdc!: string;
}

export class PaginationConventionsDto {
  @ApiProperty({ example: PAGE_DEFAULT }) default_limit!: number;
  @ApiProperty({ example: PAGE_MIN }) min_limit!: number;
  @ApiProperty({ example: PAGE_MAX }) max_limit!: number;
  @ApiProperty({ example: 'next_token' }) token_name!: string;
  @ApiProperty() token!: string;
  @ApiProperty({ type: ListOrderingDto }) ordering!: ListOrderingDto;
  @ApiProperty() limit_out_of_range!: string;
}

export class EmptyRequestDto extends ListRequestDto {}

export class CatalogUpsertRequestDto extends MutationRequestDto {
  @ApiProperty({ example: 'billing', description: 'Your service; platform services (ipm, rfp) are reserved' })
  @Matches(SERVICE_PATTERN, { message: SERVICE_MESSAGE })
  service!: string;

  @ApiProperty({ example: 'invoice_paid' })
  @Matches(ACTION_PATTERN, { message: ACTION_MESSAGE })
  @MaxLength(135)
  action!: string;

  @ApiProperty({ example: 'An invoice was paid in full' })
  @IsString()
  @Length(1, 2000)
  description!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'A JSON Schema (draft-07) for the payload',
  })
  @IsDefined()
  @IsObject()
  @JsonDocument()
  schema!: Record<string, unknown>;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'An example payload (an object, as event payloads are); it must validate against the schema',
  })
  @IsDefined()
  @IsObject({ message: 'specimen must be an object (event payloads are objects)' })
  @JsonDocument()
  specimen!: Record<string, unknown>;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Set to deprecate; null to undo',
  })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsISO8601({ strict: true })
  deprecated_at?: string | null;

  @ExpectedRevisionField('Required when the type exists (428 if missing, 409 if stale)')
  expected_revision?: string;
}
