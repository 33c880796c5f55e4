import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { PAGE_DEFAULT, PAGE_MAX, PAGE_MIN } from '../pagination';

export const ORGCODE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Seed 000's `request_context`: who the caller says they act for; its orgcode must equal x-orgcode. */
export class RequestContextDto {
  @ApiPropertyOptional({ example: 'acme', description: 'Must equal the x-orgcode header when given' })
  @IsOptional()
  @IsString()
  @Matches(ORGCODE_PATTERN, { message: 'orgcode must be 1-64 of A-Z a-z 0-9 _ . -' })
  orgcode?: string;

  @ApiPropertyOptional({ example: 'jane@acme.test' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  actor?: string;

  @ApiPropertyOptional({ example: 'session', enum: ['session', 'api_key', 'system', 'import'] })
  @IsOptional()
  @IsIn(['session', 'api_key', 'system', 'import'])
  context_source?: string;
}

export class SourceRefDto {
  @ApiProperty({ example: 'ticket' })
  @IsString()
  @Length(1, 64)
  kind!: string;

  @ApiProperty({ example: 'OPS-1234' })
  @IsString()
  @Length(1, 200)
  id!: string;
}

/** Fields every write accepts; recorded in the audit log with the actor. */
export class MutationRequestDto {
  @ApiPropertyOptional({ type: RequestContextDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => RequestContextDto)
  request_context?: RequestContextDto;

  @ApiPropertyOptional({ example: 'rotating after a leak', maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  reason?: string;

  @ApiPropertyOptional({ type: [SourceRefDto], maxItems: 20 })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => SourceRefDto)
  source_refs?: SourceRefDto[];
}

/** `limit` and `next_token`, shared by every list. */
export class ListRequestDto {
  // No minimum/maximum in the document: the api clamps out-of-range values instead of refusing them.
  @ApiPropertyOptional({
    type: 'integer',
    default: PAGE_DEFAULT,
    example: PAGE_DEFAULT,
    description: `Page size, ${PAGE_MIN} to ${PAGE_MAX}: smaller values count as ${PAGE_MIN}, larger ones as ${PAGE_MAX} (clamped, not refused); a non-integer is a 400`,
  })
  @IsOptional()
  @IsInt()
  limit?: number;

  @ApiPropertyOptional({ description: 'Opaque token from the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  next_token?: string;

  @ApiPropertyOptional({ type: RequestContextDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => RequestContextDto)
  request_context?: RequestContextDto;
}
