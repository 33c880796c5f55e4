import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, Matches, ValidateIf } from 'class-validator';
import { idPattern, IdPrefix } from '../ids';

/** `expected_revision`: a revision as the API shows it (a positive integer, as a string). */
export const EXPECTED_REVISION_PATTERN = /^\d{1,12}$/;

/**
 * An optional `expected_revision` field; `description` says whether the route requires it (428) or
 * not. Absent is absent; `null` is not a revision (a 400 naming the field, not a 428 saying it is missing).
 */
export function ExpectedRevisionField(description: string): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ example: '1', description }),
    ValidateIf((_: unknown, value: unknown) => value !== undefined),
    IsString(),
    Matches(EXPECTED_REVISION_PATTERN, { message: 'expected_revision must be a positive integer as a string' }),
  );
}

/** A required id field of one kind (`whk_…`, `dlv_…`, `job_…`): a 400 naming the field for anything else. */
export function IdField(field: string, prefix: IdPrefix): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ example: `${prefix}_01JD3V5T0K6Z8Q9W2X4Y7B1C3E` }),
    IsString(),
    Matches(idPattern(prefix), { message: `${field} must be a ${prefix}_ id` }),
  );
}

/** A service (`rfp`, `ipm`): the first segment of an event type. */
export const SERVICE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** The action part of an event type (`created`, `line.updated`). */
export const ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

/** A full event type, `<service>.<action>` (`rfp.created`). */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}\.[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

/** An application id (`app_id`): the tenant's own name for one of its customers. */
export const APP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
