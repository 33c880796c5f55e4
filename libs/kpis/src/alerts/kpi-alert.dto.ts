import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsNumber, IsObject, IsOptional, IsString, ValidateNested } from 'class-validator';
import { MutationRequestDto } from '@ipm/core';
import { KpiAlertMachine, type KpiAlertStatus } from '@ipm/lifecycle';
import { KpiBucketField, KpiCodeField, KpiScopeField } from '../dto/kpi-fields';
import { KPI_BUCKETS, type KpiBucket } from '../buckets';
import { DEFAULT_KPI_SCOPE, KPI_INSTANT_EXAMPLE, KPI_VALUE_MESSAGE } from '../kpi-record';
import { KPI_COMPARATOR_MESSAGE, KPI_COMPARATORS, type KpiComparator } from './kpi-alert.evaluation';

const ALERT_STATES = KpiAlertMachine.states.map((s) => s.name);

export class KpiThresholdDto {
  @ApiProperty({ enum: KPI_COMPARATORS, example: 'gt', description: 'Breached when `value <comparator> threshold`' })
  @IsIn(KPI_COMPARATORS, { message: KPI_COMPARATOR_MESSAGE })
  comparator!: KpiComparator;

  @ApiProperty({ example: 0, description: 'A finite number; eq/neq compare within a relative 1e-9' })
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: KPI_VALUE_MESSAGE })
  value!: number;
}

/**
 * The alert in a `/kpi/alert` request: the snapshot key, the threshold and (optionally) the value.
 * Types and patterns are checked here; the instants and their alignment by the same checks as
 * /kpi/record (400 naming `alert.<field>`).
 */
export class KpiAlertInputDto {
  @KpiCodeField()
  kpi_code!: string;

  @ApiPropertyOptional({
    example: 0,
    description:
      'The value to evaluate; when absent, the stored snapshot of (kpi_code, scope, bucket, bucket_start) is ' +
      'evaluated (404 if none was recorded)',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: KPI_VALUE_MESSAGE })
  value?: number;

  @ApiProperty({ type: KpiThresholdDto })
  @IsObject()
  @ValidateNested()
  @Type(() => KpiThresholdDto)
  threshold!: KpiThresholdDto;

  @KpiScopeField()
  scope?: string;

  @KpiBucketField()
  bucket!: KpiBucket;

  @ApiProperty({ format: 'date-time', example: KPI_INSTANT_EXAMPLE, description: 'Aligned as for /kpi/record' })
  @IsString()
  bucket_start!: string;

  @ApiPropertyOptional({ format: 'date-time', example: '2026-01-01T01:00:00Z', description: 'Must match, else 400' })
  @IsOptional()
  @IsString()
  bucket_end?: string;
}

export class KpiAlertRequestDto extends MutationRequestDto {
  @ApiProperty({ type: KpiAlertInputDto })
  @IsObject()
  @ValidateNested()
  @Type(() => KpiAlertInputDto)
  alert!: KpiAlertInputDto;

  @ApiPropertyOptional({
    default: false,
    description:
      'Publish `ipm.kpi.alert` (delivered to subscribed webhooks) when the threshold is crossed, unless the same ' +
      'alert was notified within KPI_ALERT_COOLDOWN_MINUTES',
  })
  @IsOptional()
  @IsBoolean()
  notify?: boolean;
}

export class KpiAlertThresholdView {
  @ApiProperty({ enum: KPI_COMPARATORS }) comparator!: KpiComparator;
  @ApiProperty({ example: 0 }) value!: number;
}

/** An alert as the API shows it (seed 000's fields, then its state and bookkeeping). */
export class KpiAlertDto {
  @ApiProperty({ example: 'alr_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) alert_id!: string;
  @ApiProperty({ example: 'CODE1' }) kpi_code!: string;
  @ApiProperty({ example: 0, description: 'The value of the last evaluation' }) value!: number;
  @ApiProperty({ type: KpiAlertThresholdView }) threshold!: KpiAlertThresholdView;
  @ApiProperty({ example: DEFAULT_KPI_SCOPE }) scope!: string;
  @ApiProperty({ enum: KPI_BUCKETS }) bucket!: KpiBucket;
  @ApiProperty({ format: 'date-time', example: '2026-01-01T00:00:00.000Z' }) bucket_start!: string;
  @ApiProperty({ format: 'date-time', example: '2026-01-01T01:00:00.000Z' }) bucket_end!: string;
  @ApiProperty({ enum: ALERT_STATES, description: 'KpiAlertMachine (see /lifecycle/list)' }) state!: KpiAlertStatus;
  @ApiProperty({ description: 'Whether the last evaluation crossed the threshold' }) breached!: boolean;
  @ApiProperty({ format: 'date-time' }) evaluated_at!: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When ipm.kpi.alert was last published',
  })
  last_notified_at!: string | null;
  @ApiProperty({ example: 'acme' }) orgcode!: string;
  @ApiProperty({ type: String, nullable: true }) app_id!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty() created_by!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty() updated_by!: string;
  @ApiProperty({ example: '1', description: 'Moves on every evaluation' }) revision!: string;
}

export class KpiAlertResultDto {
  @ApiProperty({ type: KpiAlertDto }) alert!: KpiAlertDto;
  @ApiProperty({ description: 'true: a new alert; false: the existing alert of that key was evaluated again' })
  created!: boolean;
  @ApiProperty({
    description:
      'true: ipm.kpi.alert was published by this call. false: not asked (notify unset), not breached, or ' +
      'within the cooldown (see cooldown_until)',
  })
  notified!: boolean;
  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Set when a breach was not notified because of the cooldown: when the next one may be',
  })
  cooldown_until?: string;
}
