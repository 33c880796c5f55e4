import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, Matches } from 'class-validator';

export const CHANNEL_CODE_PATTERN = /^[A-Za-z0-9_.:-]{1,100}$/;
/** Any text without control characters (they have no place in an id, and PostgreSQL refuses NUL). */
export const LOGICAL_GUID_PATTERN = /^[^\p{Cc}\p{Cs}]{1,200}$/u;
/** A time zone is required: a bare local time means a different instant on every server. */
export const ZONED_TIME_PATTERN = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** Optional `logical_guid`: the entity an event is about (publish field and /cdc/list filter alike). */
export function LogicalGuidField(description: string): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ example: 'RFP-2026-0042', maxLength: 200, description }),
    IsOptional(),
    IsString(),
    Matches(LOGICAL_GUID_PATTERN, { message: 'logical_guid must be 1-200 characters without control characters' }),
  );
}

/** Optional `channel_code` (publish field and /cdc/list filter alike). */
export function ChannelCodeField(description: string): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ example: 'pos_generic', maxLength: 100, description }),
    IsOptional(),
    IsString(),
    Matches(CHANNEL_CODE_PATTERN, { message: 'channel_code must be 1-100 of A-Z a-z 0-9 _ . : -' }),
  );
}

/** An optional ISO 8601 instant that says its time zone. */
export function ZonedTimeField(name: string, description: string): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ format: 'date-time', description }),
    IsOptional(),
    IsISO8601({ strict: true }),
    Matches(ZONED_TIME_PATTERN, { message: `${name} must carry a time zone (Z or +hh:mm)` }),
  );
}
