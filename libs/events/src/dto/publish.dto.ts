import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  ValidateNested,
} from 'class-validator';
import { ErrorDetailDto, MutationRequestDto, JsonDocument } from '@ipm/core';
import { ChannelCodeField, LogicalGuidField, ZonedTimeField } from './fields';

export const PUBLISH_MAX_EVENTS = 500;
export const EVENT_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,100}$/;

export class PublishEventDto {
  @ApiProperty({ example: 'rfp.created', description: '`<service>.<action>` of a catalog type' })
  @IsString()
  @Length(1, 200)
  event_type!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: "Validated against the event type's JSON Schema",
    example: {
      rfp_id: 'RFP-2026-0042',
      title: 'Fleet telematics',
      buyer: { org_id: 'ORG-17', name: 'Acme' },
      status: 'open',
    },
  })
  @IsObject()
  @JsonDocument()
  payload!: Record<string, unknown>;

  @ApiPropertyOptional({
    example: 'erp-4711-created',
    description:
      'Your id for the event (1-100 of A-Z a-z 0-9 _ . : -); a repeat is not stored twice. Default: a new evt_ id',
  })
  @IsOptional()
  @IsString()
  @Matches(EVENT_ID_PATTERN, { message: 'event_id must be 1-100 of A-Z a-z 0-9 _ . : -' })
  event_id?: string;

  @LogicalGuidField('The entity the event is about')
  logical_guid?: string;

  @ChannelCodeField('Where the event came from')
  channel_code?: string;

  @ZonedTimeField('occurred_at', 'When it happened (default: when it was received)')
  occurred_at?: string;
}

export class PublishRequestDto extends MutationRequestDto {
  @ApiProperty({ type: [PublishEventDto], minItems: 1, maxItems: PUBLISH_MAX_EVENTS })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(PUBLISH_MAX_EVENTS)
  @ValidateNested({ each: true })
  @Type(() => PublishEventDto)
  events!: PublishEventDto[];
}

export type PublishItemStatus = 'stored' | 'duplicate' | 'rejected';

export class PublishItemErrorDto {
  @ApiProperty({ example: 'invalid_payload', enum: ['unknown_event_type', 'reserved_event_type', 'invalid_payload'] })
  code!: string;
  @ApiProperty({ example: "payload does not match rfp.created v1: /buyer must have required property 'name'" })
  message!: string;
  @ApiProperty({ type: [ErrorDetailDto] })
  details!: ErrorDetailDto[];
}

export class PublishItemResultDto {
  @ApiProperty({ example: 0, description: 'Position in the request' })
  index!: number;
  @ApiProperty({ nullable: true, type: String, example: 'evt_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' })
  event_id!: string | null;
  @ApiProperty({ example: 'rfp.created' })
  event_type!: string;
  @ApiProperty({ enum: ['stored', 'duplicate', 'rejected'] })
  status!: PublishItemStatus;
  @ApiPropertyOptional({ type: PublishItemErrorDto, description: 'Why a rejected item was not stored' })
  error?: PublishItemErrorDto;
}

export class PublishResultDto {
  @ApiProperty({ type: [PublishItemResultDto] })
  items!: PublishItemResultDto[];
  @ApiProperty({ example: 99 })
  stored!: number;
  @ApiProperty({ example: 1 })
  duplicates!: number;
  @ApiProperty({ example: 0 })
  rejected!: number;
}
