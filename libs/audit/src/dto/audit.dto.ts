import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, Length, Matches } from 'class-validator';
import { ListRequestDto, RequestContextDto, SourceRefDto } from '@ipm/core';

export class AuditListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'apikey.create', description: 'Exact action name' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z0-9_.]{1,100}$/, { message: 'action must be lower-case words joined by . or _' })
  action?: string;

  @ApiPropertyOptional({ example: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  target_id?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Inclusive lower bound on created_at' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Exclusive upper bound on created_at' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;
}

export class AuditRecordDto {
  @ApiProperty() audit_id!: string;
  @ApiProperty() orgcode!: string;
  @ApiProperty({ enum: ['user', 'api_key', 'system'] }) actor_type!: string;
  @ApiProperty() actor_id!: string;
  @ApiProperty({ nullable: true, type: String }) app_id!: string | null;
  @ApiProperty({ example: 'apikey.create' }) action!: string;
  @ApiProperty({ nullable: true, type: String }) target_type!: string | null;
  @ApiProperty({ nullable: true, type: String }) target_id!: string | null;
  @ApiProperty({ nullable: true, type: String }) reason!: string | null;
  @ApiProperty({ type: [SourceRefDto] }) source_refs!: SourceRefDto[];
  @ApiProperty({
    type: RequestContextDto,
    nullable: true,
    description: "The write's request_context, as sent (null when it sent none)",
  })
  request_context!: RequestContextDto | null;
  @ApiProperty({
    type: 'object',
    nullable: true,
    additionalProperties: true,
    description:
      "Facts of the action, by action (e.g. `revision`; an API key's `name`, `prefix`, `permissions`; a retry's " +
      '`retry_of`); never secrets',
  })
  metadata!: object | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
}
