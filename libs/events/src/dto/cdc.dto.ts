import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, Length, Matches } from 'class-validator';
import { ListRequestDto } from '@ipm/core';
import { CHANNEL_CODE_PATTERN, LOGICAL_GUID_PATTERN, ZONED_TIME_PATTERN } from './publish.dto';

export class CdcListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'rfp' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z][a-z0-9_]{0,63}$/, { message: 'service must be 1-64 of a-z 0-9 _, starting with a letter' })
  service?: string;

  @ApiPropertyOptional({ example: 'rfp.status_changed' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  @Matches(/^[a-z][a-z0-9_.]*$/, { message: 'event_type must be lower-case words joined by . or _' })
  event_type?: string;

  @ApiPropertyOptional({ example: 'RFP-2026-0042' })
  @IsOptional()
  @IsString()
  @Matches(LOGICAL_GUID_PATTERN, { message: 'logical_guid must be 1-200 characters without control characters' })
  logical_guid?: string;

  @ApiPropertyOptional({ example: 'pos_generic' })
  @IsOptional()
  @IsString()
  @Matches(CHANNEL_CODE_PATTERN, { message: 'channel_code must be 1-100 of A-Z a-z 0-9 _ . : -' })
  channel_code?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only events received strictly after this time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(ZONED_TIME_PATTERN, { message: 'after must carry a time zone (Z or +hh:mm)' })
  after?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only events received strictly before this time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(ZONED_TIME_PATTERN, { message: 'before must carry a time zone (Z or +hh:mm)' })
  before?: string;
}

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
  @ApiProperty({ example: '1042', description: 'Arrival order in the tenant feed (a 64-bit integer, as a string)' })
  sequence!: string;
}
