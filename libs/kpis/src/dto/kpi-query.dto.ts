import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsObject, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { ListRequestDto } from '@ipm/core';
import { KpiBucketField, KpiCodeField, KpiScopeField } from './kpi-fields';
import { KPI_BUCKETS, type KpiBucket } from '../buckets';
import { DEFAULT_KPI_SCOPE, KPI_INSTANT_EXAMPLE } from '../kpi-record';
import { KPI_ROLLUP_FN_MESSAGE, KPI_ROLLUP_FNS, type KpiRollupFn } from '../query/kpi-rollup';
import { KpiDto } from './kpi.dto';

export class KpiRollupDto {
  @ApiProperty({
    enum: KPI_BUCKETS,
    example: 'hourly',
    description:
      'The bucket of the stored snapshots to aggregate: strictly finer than `bucket`, and nesting in it ' +
      '(weekly does not roll up into monthly: a week can straddle two months); else a 400 on `rollup.from_bucket`',
  })
  @IsIn(KPI_BUCKETS, { message: `from_bucket must be one of ${KPI_BUCKETS.join(', ')}` })
  from_bucket!: KpiBucket;

  @ApiProperty({
    enum: KPI_ROLLUP_FNS,
    example: 'sum',
    description:
      'How the fine values of one coarse bucket are folded: `sum`, `avg` (of the snapshots present), `min`, ' +
      '`max`, or `last` (the value of the latest fine bucket in the period)',
  })
  @IsIn(KPI_ROLLUP_FNS, { message: KPI_ROLLUP_FN_MESSAGE })
  fn!: KpiRollupFn;
}

export class KpiQueryRequestDto extends ListRequestDto {
  @KpiCodeField()
  kpi_code!: string;

  @KpiBucketField('The bucket of the series (with `rollup`: the coarse bucket the fine snapshots are folded into)')
  bucket!: KpiBucket;

  @ApiProperty({
    format: 'date-time',
    example: KPI_INSTANT_EXAMPLE,
    description: 'Start of the window on bucket_start, inclusive (ISO 8601 with a time zone)',
  })
  @IsString()
  @MaxLength(64)
  from_utc!: string;

  @ApiProperty({
    format: 'date-time',
    example: '2026-01-02T00:00:00Z',
    description: 'End of the window on bucket_start, exclusive; must be after from_utc, else a 400 on `to_utc`',
  })
  @IsString()
  @MaxLength(64)
  to_utc!: string;

  @KpiScopeField()
  scope?: string;

  @ApiPropertyOptional({
    type: KpiRollupDto,
    description:
      'Fold finer snapshots into `bucket` in SQL, in UTC with the buckets of /kpi/record (weeks start on ' +
      'Monday). A coarse bucket is shown when its start is in [from_utc, to_utc), computed from all its fine ' +
      'snapshots; one with no fine snapshots is absent. Items are then KpiRollupPointDto.',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => KpiRollupDto)
  rollup?: KpiRollupDto;
}

/** One coarse bucket computed by a roll-up: no kpi_id (it is not a stored snapshot). */
export class KpiRollupPointDto {
  @ApiProperty({ example: 'CODE1' }) kpi_code!: string;
  @ApiProperty({ example: DEFAULT_KPI_SCOPE }) scope!: string;
  @ApiProperty({ enum: KPI_BUCKETS, example: 'daily', description: 'The coarse bucket' }) bucket!: KpiBucket;
  @ApiProperty({ format: 'date-time', example: '2026-01-01T00:00:00.000Z' }) bucket_start!: string;
  @ApiProperty({ format: 'date-time', example: '2026-01-02T00:00:00.000Z' }) bucket_end!: string;
  @ApiProperty({ example: 0, description: 'The fine values folded with rollup.fn' }) value!: number;
  @ApiProperty({ example: 24, description: 'How many fine snapshots the value is computed from (at least 1)' })
  count!: number;
}

export type KpiSeriesItem = KpiDto | KpiRollupPointDto;

export class KpiQueryResultDto {
  @ApiProperty({
    type: 'array',
    items: { oneOf: [{ $ref: getSchemaPath(KpiDto) }, { $ref: getSchemaPath(KpiRollupPointDto) }] },
    description:
      'Ordered by bucket_start. Stored snapshots (KpiDto) without `rollup`; computed points (KpiRollupPointDto) with it',
  })
  series!: KpiSeriesItem[];

  @ApiPropertyOptional({ description: 'Opaque token for the next page; absent on the last page' })
  next_token?: string;
}
