import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsISO8601, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import {
  EVENT_TYPE_PATTERN,
  ExpectedRevisionField,
  IdField,
  idPattern,
  IdPrefix,
  ListRequestDto,
  MutationRequestDto,
  SERVICE_PATTERN,
} from '@ipm/core';
import { BulkJobMachine, type BulkJobStatus, sourcesOf } from '@ipm/lifecycle';
import type { BulkExportTarget, BulkFormat, BulkImportTarget, BulkJobType } from '../jobs/bulk-job.entity';

export const JOB_ID_PATTERN = idPattern(IdPrefix.Job);
export const BULK_JOB_STATUSES = BulkJobMachine.states.map((s) => s.name);

/**
 * `/bulk/job/list`'s `status: "active"` (seed 000's sample): the jobs still in progress, i.e. those
 * that can yet be committed, started or completed (awaiting_upload, queued, running), from the machine.
 */
export const ACTIVE_BULK_JOB_STATUSES: readonly BulkJobStatus[] = [
  ...new Set([
    ...sourcesOf(BulkJobMachine, 'commit'),
    ...sourcesOf(BulkJobMachine, 'start'),
    ...sourcesOf(BulkJobMachine, 'complete'),
  ]),
];
export const BULK_JOB_LIST_STATUSES = [...BULK_JOB_STATUSES, 'active'] as const;
export const BULK_JOB_TYPES: readonly BulkJobType[] = ['import', 'export'];
export const IMPORT_TARGETS: readonly BulkImportTarget[] = ['events', 'webhooks', 'kpis'];
export const EXPORT_TARGETS: readonly BulkExportTarget[] = ['events', 'deliveries', 'webhooks', 'kpis', 'audit'];
export const BULK_FORMATS: readonly BulkFormat[] = ['ndjson', 'csv'];

export class BulkImportCreateRequestDto extends MutationRequestDto {
  @ApiProperty({ enum: IMPORT_TARGETS })
  @IsIn(IMPORT_TARGETS)
  target!: BulkImportTarget;

  @ApiProperty({ enum: BULK_FORMATS })
  @IsIn(BULK_FORMATS)
  format!: BulkFormat;

  @ApiPropertyOptional({ default: false, description: 'Validate every line and report, but store nothing' })
  @IsOptional()
  @IsBoolean()
  dry_run?: boolean;
}

export class BulkExportCreateRequestDto extends MutationRequestDto {
  @ApiProperty({ enum: EXPORT_TARGETS })
  @IsIn(EXPORT_TARGETS)
  target!: BulkExportTarget;

  @ApiProperty({ enum: BULK_FORMATS })
  @IsIn(BULK_FORMATS)
  format!: BulkFormat;

  @ApiPropertyOptional({ format: 'date-time', description: 'Rows at or after this instant (UTC)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from_utc must be an ISO 8601 date-time' })
  from_utc?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Rows before this instant (UTC)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to_utc must be an ISO 8601 date-time' })
  to_utc?: string;

  @ApiPropertyOptional({ example: 'rfp', description: 'events, deliveries: only this service' })
  @IsOptional()
  @IsString()
  @Matches(SERVICE_PATTERN, { message: 'service must be 1-64 of a-z 0-9 _ starting with a letter' })
  service?: string;

  @ApiPropertyOptional({ example: 'rfp.created', description: 'events, deliveries: only this event type' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(EVENT_TYPE_PATTERN, {
    message: 'event_type must be an event type such as rfp.created',
  })
  event_type?: string;

  @ApiPropertyOptional({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', description: 'deliveries: only this webhook' })
  @IsOptional()
  @IsString()
  @Matches(idPattern(IdPrefix.Webhook), { message: 'webhook_id must be a whk_ id' })
  webhook_id?: string;

  @ApiPropertyOptional({ example: 'failed', description: 'deliveries, webhooks: only this status' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z_]{1,32}$/, { message: 'status must be 1-32 of a-z _' })
  status?: string;
}

export class BulkImportCommitRequestDto extends MutationRequestDto {
  @IdField('job_id', IdPrefix.Job)
  job_id!: string;

  @ExpectedRevisionField('Required (428 if missing, 409 if stale)')
  expected_revision?: string;
}

export class BulkJobContinueRequestDto extends MutationRequestDto {
  @IdField('job_id', IdPrefix.Job)
  job_id!: string;

  @ExpectedRevisionField('Optional: when given, a stale revision is a 409')
  expected_revision?: string;
}

export class BulkJobCancelRequestDto extends MutationRequestDto {
  @IdField('job_id', IdPrefix.Job)
  job_id!: string;

  @ExpectedRevisionField('Optional: when given, a stale revision is a 409')
  expected_revision?: string;
}

export class BulkJobGetRequestDto {
  @IdField('job_id', IdPrefix.Job)
  job_id!: string;
}

export class BulkJobListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({
    enum: BULK_JOB_LIST_STATUSES,
    description: `A state, or active: the jobs in progress (${ACTIVE_BULK_JOB_STATUSES.join(', ')})`,
  })
  @IsOptional()
  @IsIn(BULK_JOB_LIST_STATUSES)
  status?: BulkJobStatus | 'active';

  @ApiPropertyOptional({ enum: BULK_JOB_TYPES })
  @IsOptional()
  @IsIn(BULK_JOB_TYPES)
  job_type?: BulkJobType;
}

export class BulkJobOptionsDto {
  @ApiPropertyOptional() dry_run?: boolean;
  @ApiPropertyOptional({ format: 'date-time' }) from_utc?: string;
  @ApiPropertyOptional({ format: 'date-time' }) to_utc?: string;
  @ApiPropertyOptional() service?: string;
  @ApiPropertyOptional() event_type?: string;
  @ApiPropertyOptional() webhook_id?: string;
  @ApiPropertyOptional() status?: string;
}

export class BulkJobDto {
  @ApiProperty({ example: 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) job_id!: string;
  @ApiProperty({ example: 'acme' }) orgcode!: string;
  @ApiProperty({ type: String, nullable: true }) app_id!: string | null;
  @ApiProperty({ enum: BULK_JOB_TYPES }) job_type!: BulkJobType;
  @ApiProperty({ enum: [...new Set([...IMPORT_TARGETS, ...EXPORT_TARGETS])] }) target!:
    BulkImportTarget | BulkExportTarget;
  @ApiProperty({ enum: BULK_FORMATS }) format!: BulkFormat;
  @ApiProperty({ enum: BULK_JOB_STATUSES }) status!: BulkJobStatus;
  @ApiProperty({ type: BulkJobOptionsDto }) options!: BulkJobOptionsDto;
  @ApiProperty({ type: Number, nullable: true, description: 'Lines in the file (import) or rows (export), once known' })
  total_lines!: number | null;
  @ApiProperty({ example: 0 }) processed!: number;
  @ApiProperty({ example: 0 }) succeeded!: number;
  @ApiProperty({ example: 0 }) failed!: number;
  @ApiProperty({ example: 0, minimum: 0, maximum: 1 }) progress!: number;
  @ApiProperty({ example: 0, description: 'Import checkpoint: `continue` resumes after this line' })
  last_processed_line!: number;
  @ApiProperty({ type: String, nullable: true, description: 'Export checkpoint' }) cursor!: string | null;
  @ApiProperty({ example: 0, description: 'Bytes received by the upload' }) upload_bytes!: number;
  @ApiProperty({ type: String, nullable: true }) error!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) started_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finished_at!: string | null;
  @ApiProperty({ format: 'date-time', description: 'When its files are deleted' }) expires_at!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty() created_by!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty() updated_by!: string;
  @ApiProperty({ example: '1' }) revision!: string;
}

export class BulkJobResultDto {
  @ApiProperty({ type: BulkJobDto }) job!: BulkJobDto;
}

export class BulkImportCreatedDto extends BulkJobResultDto {
  @ApiProperty({
    example: '/ipm/bulk/upload/eyJ2Ijox….x9Q',
    description: 'PUT the file here (signed, expires after BULK_URL_TTL_MINUTES, single use)',
  })
  upload_url!: string;
}

export class BulkJobDetailDto extends BulkJobResultDto {
  @ApiPropertyOptional({ example: '/ipm/bulk/file/eyJ2Ijox….x9Q', description: 'A completed export (signed GET)' })
  download_url?: string;
  @ApiPropertyOptional({
    example: '/ipm/bulk/file/eyJ2Ijox….x9Q',
    description: 'The per-line error report (signed GET)',
  })
  report_url?: string;
}
