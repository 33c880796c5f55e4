import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { KPI_BUCKETS } from '../buckets';
import {
  DEFAULT_KPI_SCOPE,
  KPI_BUCKET_MESSAGE,
  KPI_CODE_MESSAGE,
  KPI_CODE_PATTERN,
  KPI_SCOPE_MESSAGE,
  KPI_SCOPE_PATTERN,
} from '../kpi-record';

// The snapshot key's fields, as /kpi/record, /kpi/query and /kpi/alert all take them.

/** `kpi_code`: required, checked against KPI_CODE_PATTERN. */
export function KpiCodeField(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ example: 'CODE1', maxLength: 100, pattern: KPI_CODE_PATTERN.source }),
    IsString(),
    Matches(KPI_CODE_PATTERN, { message: KPI_CODE_MESSAGE }),
  );
}

/** `scope`: optional (DEFAULT_KPI_SCOPE), checked against KPI_SCOPE_PATTERN. */
export function KpiScopeField(description?: string): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      example: DEFAULT_KPI_SCOPE,
      default: DEFAULT_KPI_SCOPE,
      maxLength: 128,
      pattern: KPI_SCOPE_PATTERN.source,
      ...(description ? { description } : {}),
    }),
    IsOptional(),
    IsString(),
    Matches(KPI_SCOPE_PATTERN, { message: KPI_SCOPE_MESSAGE }),
  );
}

/** `bucket`: required, one of KPI_BUCKETS. */
export function KpiBucketField(description?: string): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ enum: KPI_BUCKETS, example: 'hourly', ...(description ? { description } : {}) }),
    IsIn(KPI_BUCKETS, { message: KPI_BUCKET_MESSAGE }),
  );
}
