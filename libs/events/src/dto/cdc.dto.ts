import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, Matches } from 'class-validator';
import { ListRequestDto, SERVICE_PATTERN } from '@ipm/core';
import { ChannelCodeField, LogicalGuidField, ZonedTimeField } from './fields';

/**
 * `/cdc/list` filters. The feed is ordered by `position` (the storing transaction's id, then
 * `sequence`) and is gap-free: it serves only the events of transactions older than every
 * transaction still open, so no event can ever appear before one already served, and following
 * `next_token` never misses one. An event therefore waits (the feed serves nothing from it onwards)
 * while an older transaction is still open. `after`/`before` filter on `received_at`, the storing
 * transaction's start: they are not a resume point, since a slower transaction can commit events
 * received earlier than ones already served.
 */
export class CdcListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'rfp' })
  @IsOptional()
  @IsString()
  @Matches(SERVICE_PATTERN, { message: 'service must be 1-64 of a-z 0-9 _, starting with a letter' })
  service?: string;

  @ApiPropertyOptional({ example: 'rfp.status_changed' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  @Matches(/^[a-z][a-z0-9_.]*$/, { message: 'event_type must be lower-case words joined by . or _' })
  event_type?: string;

  @LogicalGuidField('Only the events about this entity')
  logical_guid?: string;

  @ChannelCodeField('Only the events of this channel')
  channel_code?: string;

  @ZonedTimeField('after', 'Only events received strictly after this time')
  after?: string;

  @ZonedTimeField('before', 'Only events received strictly before this time')
  before?: string;

  @ApiPropertyOptional({
    example: '40957.1234',
    description:
      'Resume the feed after this `position` (the last one you processed). Unlike next_token it is ' +
      'also known on the last page, so a consumer that caught up polls with it. Not with next_token.',
  })
  @IsOptional()
  @IsString()
  @Matches(/^\d{1,19}\.\d{1,19}$/, { message: 'after_position must be a position such as 40957.1234' })
  after_position?: string;
}

/** One event of the change feed; `position` is its place in the feed's (gap-free) order. */
export class CdcEventDto {
  @ApiProperty({ example: 'evt_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) event_id!: string;
  @ApiProperty({ example: 'rfp.created' }) event_type!: string;
  @ApiProperty({ example: 'rfp' }) service!: string;
  @ApiProperty({ example: 'created' }) action!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) payload!: object;
  @ApiProperty({ nullable: true, type: String }) logical_guid!: string | null;
  @ApiProperty({ nullable: true, type: String }) channel_code!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The publishing application' }) app_id!: string | null;
  @ApiProperty({ enum: ['api', 'platform'] }) source!: string;
  @ApiProperty({ format: 'date-time' }) occurred_at!: string;
  @ApiProperty({ format: 'date-time' }) received_at!: string;
  @ApiProperty({
    example: '1042',
    description:
      'Insertion number: unique and increasing in the order of INSERTs (a 64-bit integer, as a string). Not the ' +
      'feed order on its own: a transaction that inserts earlier can commit later.',
  })
  sequence!: string;
  @ApiProperty({
    example: '748213.1042',
    pattern: '^\\d+\\.\\d+$',
    description:
      '"<tx_id>.<sequence>": the storing transaction\'s 64-bit id, then sequence. The feed is sorted by this pair ' +
      '(compare the two numbers, not the string) and only ever grows at its end: no event is ever served at a ' +
      'position lower than one already served.',
  })
  position!: string;
}
