import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsNumber, IsObject, IsOptional, IsString, ValidateNested } from 'class-validator';
import { ExpectedRevisionField, MutationRequestDto } from '@ipm/core';
import { KpiBucketField, KpiCodeField, KpiScopeField } from './kpi-fields';
import { KPI_BUCKETS, type KpiBucket } from '../buckets';
import { DEFAULT_KPI_SCOPE, KPI_INSTANT_EXAMPLE, KPI_VALUE_MESSAGE } from '../kpi-record';

/**
 * The snapshot in a `/kpi/record` request. Types and patterns are checked here (400 naming
 * `kpi.<field>`); the instants and their alignment by the service, which bulk imports share.
 */
export class KpiInputDto {
  @KpiCodeField()
  kpi_code!: string;

  @KpiScopeField('What the value is about within the tenant (e.g. `org`, `app:billing`, `region:eu`)')
  scope?: string;

  @KpiBucketField()
  bucket!: KpiBucket;

  @ApiProperty({
    format: 'date-time',
    example: KPI_INSTANT_EXAMPLE,
    description:
      'The start of the bucket in UTC (any offset may be written): hours on the hour, days at 00:00, ' +
      'weeks on Monday 00:00, months on the 1st 00:00; else a 400 with the reason',
  })
  @IsString()
  bucket_start!: string;

  @ApiPropertyOptional({
    format: 'date-time',
    example: '2026-01-01T01:00:00Z',
    description: 'The end of that bucket (exclusive); when given it must match, else a 400',
  })
  @IsOptional()
  @IsString()
  bucket_end?: string;

  @ApiProperty({ example: 0, description: 'A finite number (double precision)' })
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: KPI_VALUE_MESSAGE })
  value!: number;
}

export class KpiRecordRequestDto extends MutationRequestDto {
  @ApiProperty({ type: KpiInputDto })
  @IsObject()
  @ValidateNested()
  @Type(() => KpiInputDto)
  kpi!: KpiInputDto;

  @ExpectedRevisionField('Required to replace an existing snapshot (428 if missing, 409 if stale); not for a new one')
  expected_revision?: string;
}

/** A snapshot as the API shows it (and as bulk exports write it). */
export class KpiDto {
  @ApiProperty({ example: 'kpi_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) kpi_id!: string;
  @ApiProperty({ example: 'acme' }) orgcode!: string;
  @ApiProperty({ type: String, nullable: true, description: 'The application that recorded it' })
  app_id!: string | null;
  @ApiProperty({ example: 'CODE1' }) kpi_code!: string;
  @ApiProperty({ example: DEFAULT_KPI_SCOPE }) scope!: string;
  @ApiProperty({ enum: KPI_BUCKETS }) bucket!: KpiBucket;
  @ApiProperty({ format: 'date-time', example: '2026-01-01T00:00:00.000Z' }) bucket_start!: string;
  @ApiProperty({ format: 'date-time', example: '2026-01-01T01:00:00.000Z' }) bucket_end!: string;
  @ApiProperty({ example: 0 }) value!: number;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty() created_by!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty() updated_by!: string;
  @ApiProperty({ example: '1' }) revision!: string;
}

export class KpiRecordResultDto {
  @ApiProperty({ type: KpiDto }) kpi!: KpiDto;
  @ApiProperty({ description: 'true: a new snapshot; false: an existing one was replaced (or left as it was)' })
  created!: boolean;
}
