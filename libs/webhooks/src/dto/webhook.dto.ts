import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateNested,
} from 'class-validator';
import {
  ACTION_PATTERN,
  APP_ID_PATTERN,
  EVENT_TYPE_PATTERN,
  ExpectedRevisionField,
  IdField,
  idPattern,
  IdPrefix,
  ListRequestDto,
  MutationRequestDto,
  SERVICE_PATTERN,
} from '@ipm/core';
import { WebhookMachine, type WebhookStatus } from '@ipm/lifecycle';
import { SIGNING_ALGORITHM } from '../entities/webhook.entity';
import type { RetryBackoff } from '../entities/webhook.entity';
import { MAX_EVENT_FILTERS } from '../event-filters';
import { IsWebhookHeaders, KeepEveryHeaderName, MAX_HEADERS } from '../webhook-headers';

export const WEBHOOK_ID_PATTERN = idPattern(IdPrefix.Webhook);
export const TAG_PATTERN = /^[a-zA-Z0-9_.:-]{1,64}$/;
export const MAX_TAGS = 20;
export const WEBHOOK_STATUSES = WebhookMachine.states.map((s) => s.name);
export const RETRY_BACKOFFS: readonly RetryBackoff[] = ['exponential'];
export const RETRY_DEFAULTS = { max_attempts: 8, backoff: 'exponential', timeout_ms: 15_000 } as const;
export const TIMEOUT_MIN_MS = 1000;
export const TIMEOUT_MAX_MS = 30_000;
export const MAX_ATTEMPTS_MAX = 20;
export const GRACE_DEFAULT_SECONDS = 86_400;
export const GRACE_MAX_SECONDS = 604_800;

export class EventFilterDto {
  @ApiProperty({ example: 'rfp', description: 'A service of the event catalog' })
  @IsString()
  @Matches(SERVICE_PATTERN, { message: 'service must be 1-64 of a-z 0-9 _ starting with a letter' })
  service!: string;

  @ApiPropertyOptional({ example: 'status_changed', description: 'Only this action of the service' })
  @IsOptional()
  @IsString()
  @MaxLength(135)
  @Matches(ACTION_PATTERN, { message: 'action must be lower-case words of a-z 0-9 _ joined by dots' })
  action?: string;

  @ApiPropertyOptional({ example: 'bid_', description: 'Only actions starting with this text' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z0-9_.]{1,135}$/, { message: 'action_prefix must be 1-135 of a-z 0-9 _ .' })
  @ValidateBy({
    name: 'notWithAction',
    validator: {
      validate: (_value: unknown, args) => (args?.object as EventFilterDto | undefined)?.action === undefined,
      defaultMessage: () => 'give action or action_prefix, not both',
    },
  })
  action_prefix?: string;
}

export class RetryPolicyRequestDto {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_ATTEMPTS_MAX, default: RETRY_DEFAULTS.max_attempts })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_ATTEMPTS_MAX)
  max_attempts?: number;

  @ApiPropertyOptional({ enum: RETRY_BACKOFFS, default: RETRY_DEFAULTS.backoff })
  @IsOptional()
  @IsIn(RETRY_BACKOFFS)
  backoff?: RetryBackoff;

  @ApiPropertyOptional({ minimum: TIMEOUT_MIN_MS, maximum: TIMEOUT_MAX_MS, default: RETRY_DEFAULTS.timeout_ms })
  @IsOptional()
  @IsInt()
  @Min(TIMEOUT_MIN_MS)
  @Max(TIMEOUT_MAX_MS)
  timeout_ms?: number;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 1,
    maximum: 1_000_000,
    description: 'Consecutive failed attempts that pause the webhook (null: the platform default, 50)',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  auto_pause_after?: number | null;
}

/** The fields create and update share; on update each is optional and only what is given changes. */
class WebhookFieldsDto extends MutationRequestDto {
  @ApiPropertyOptional({
    type: String,
    example: 'Orders to ERP',
    maxLength: 200,
    nullable: true,
    description: 'Update: null clears it',
  })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  name?: string | null;

  @ApiPropertyOptional({
    type: String,
    example: 'Pushes every RFP change to the ERP',
    maxLength: 1000,
    nullable: true,
    description: 'Update: null clears it',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  description?: string | null;

  @ApiPropertyOptional({ type: [EventFilterDto], maxItems: MAX_EVENT_FILTERS, description: 'Empty: every event' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_EVENT_FILTERS)
  @ValidateNested({ each: true })
  @Type(() => EventFilterDto)
  event_filters?: EventFilterDto[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { 'X-Team': 'erp' },
    description: `Static, non-secret headers sent with every delivery (at most ${MAX_HEADERS}, 4 KiB; no hop-by-hop or signature headers)`,
  })
  @IsOptional()
  @IsObject()
  @IsWebhookHeaders()
  @KeepEveryHeaderName()
  headers?: Record<string, string>;

  @ApiPropertyOptional({ type: RetryPolicyRequestDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => RetryPolicyRequestDto)
  retry_policy?: RetryPolicyRequestDto;

  @ApiPropertyOptional({
    minimum: TIMEOUT_MIN_MS,
    maximum: TIMEOUT_MAX_MS,
    description: 'Shorthand for retry_policy.timeout_ms',
  })
  @IsOptional()
  @IsInt()
  @Min(TIMEOUT_MIN_MS)
  @Max(TIMEOUT_MAX_MS)
  timeout_ms?: number;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_TAGS, example: ['erp', 'team:orders'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_TAGS)
  @ArrayUnique()
  @IsString({ each: true })
  @Matches(TAG_PATTERN, { each: true, message: 'each tag must be 1-64 of a-z A-Z 0-9 _ . : -' })
  tags?: string[];
}

/** The states a webhook may be created in (seeds 002/003 `is_active`): receiving, or set up paused. */
export const CREATE_STATUSES = ['active', 'paused'] as const satisfies readonly WebhookStatus[];
export type WebhookCreateStatus = (typeof CREATE_STATUSES)[number];

export class WebhookCreateRequestDto extends WebhookFieldsDto {
  @ApiProperty({
    example: 'https://erp.example.com/hooks/ipm',
    maxLength: 2048,
    description: 'http(s); public addresses only',
  })
  @IsString()
  @IsNotEmpty()
  endpoint_url!: string;

  @ApiPropertyOptional({
    example: 'app_billing',
    description: 'The owning application (API keys bound to an app: theirs)',
  })
  @IsOptional()
  @IsString()
  @Matches(APP_ID_PATTERN, { message: 'app_id must be 1-128 of A-Z a-z 0-9 _ . : -' })
  app_id?: string;

  @ApiPropertyOptional({
    enum: CREATE_STATUSES,
    default: 'active',
    description: 'paused: set the endpoint up before it receives anything (resume with /webhook/status/set)',
  })
  @IsOptional()
  @IsIn(CREATE_STATUSES, { message: `status must be one of ${CREATE_STATUSES.join(', ')}` })
  status?: WebhookCreateStatus;
}

export class WebhookUpdateRequestDto extends WebhookFieldsDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;

  @ExpectedRevisionField('Required (428 if missing, 409 if stale)')
  expected_revision?: string;

  @ApiPropertyOptional({ example: 'https://erp.example.com/hooks/ipm', maxLength: 2048 })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  endpoint_url?: string;
}

export class WebhookGetRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;
}

export class WebhookListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ enum: WEBHOOK_STATUSES })
  @IsOptional()
  @IsIn(WEBHOOK_STATUSES)
  status?: WebhookStatus;

  @ApiPropertyOptional({ example: 'rfp.created', description: 'Webhooks that would receive this event type' })
  @IsOptional()
  @IsString()
  @Length(3, 200)
  @Matches(EVENT_TYPE_PATTERN, { message: 'event_type must be an event type such as rfp.created' })
  event_type?: string;

  @ApiPropertyOptional({ example: 'erp' })
  @IsOptional()
  @IsString()
  @Matches(TAG_PATTERN, { message: 'tag must be 1-64 of a-z A-Z 0-9 _ . : -' })
  tag?: string;

  @ApiPropertyOptional({ example: 'app_billing' })
  @IsOptional()
  @IsString()
  @Matches(APP_ID_PATTERN, { message: 'app_id must be 1-128 of A-Z a-z 0-9 _ . : -' })
  app_id?: string;

  @ApiPropertyOptional({
    enum: ['created', 'updated', 'name'],
    default: 'created',
    description: 'created, updated (last change, seed 002 modified) or name; ties by webhook_id',
  })
  @IsOptional()
  @IsIn(['created', 'updated', 'name'])
  order_by?: 'created' | 'updated' | 'name';

  @ApiPropertyOptional({
    enum: ['asc', 'desc'],
    description: 'Default: desc (newest first) by created and updated, asc by name',
  })
  @IsOptional()
  @IsIn(['asc', 'desc'])
  order?: 'asc' | 'desc';
}

export class WebhookStatusSetRequestDto extends MutationRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;

  @ApiProperty({ enum: WEBHOOK_STATUSES, description: 'Through the webhook lifecycle machine (illegal moves: 409)' })
  @IsIn(WEBHOOK_STATUSES)
  status!: WebhookStatus;

  @ExpectedRevisionField('Required (428 if missing, 409 if stale)')
  expected_revision?: string;
}

export class WebhookDeleteRequestDto extends MutationRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;

  @ExpectedRevisionField('Optional: when given, a stale revision is a 409')
  expected_revision?: string;
}

export class WebhookSecretRotateRequestDto extends MutationRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: GRACE_MAX_SECONDS,
    default: GRACE_DEFAULT_SECONDS,
    description: 'How long the previous secret keeps signing deliveries (0: not at all)',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(GRACE_MAX_SECONDS)
  grace_period_seconds?: number;

  @ExpectedRevisionField('Optional: when given, a stale revision is a 409')
  expected_revision?: string;
}

export class RetryPolicyDto {
  @ApiProperty({ example: 8 }) max_attempts!: number;
  @ApiProperty({ enum: RETRY_BACKOFFS }) backoff!: RetryBackoff;
  @ApiProperty({ example: 15000 }) timeout_ms!: number;
  @ApiPropertyOptional({ example: 50, description: 'Absent: the platform default' }) auto_pause_after?: number;
}

export class WebhookDto {
  @ApiProperty({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) webhook_id!: string;
  @ApiProperty({ example: 'acme' }) orgcode!: string;
  @ApiProperty({ type: String, nullable: true }) app_id!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'Orders to ERP' }) name!: string | null;
  @ApiProperty({ type: String, nullable: true }) description!: string | null;
  @ApiProperty({ example: 'https://erp.example.com/hooks/ipm' }) endpoint_url!: string;
  @ApiProperty({ enum: WEBHOOK_STATUSES }) status!: WebhookStatus;
  @ApiProperty({ type: [EventFilterDto] }) event_filters!: EventFilterDto[];
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) headers!: Record<string, string>;
  @ApiProperty({ type: RetryPolicyDto }) retry_policy!: RetryPolicyDto;
  @ApiProperty({ type: String, nullable: true, description: 'When the endpoint last passed /webhook/verify' })
  verified_at!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'verified', description: '`verified`, or why it failed' })
  verification_status!: string | null;
  @ApiProperty({ enum: [SIGNING_ALGORITHM] }) signing_algorithm!: typeof SIGNING_ALGORITHM;
  @ApiProperty({ example: 'x9Q=', description: 'The last 4 characters of the secret' }) secret_last4!: string;
  @ApiProperty({ example: '3f9a1c0b7d2e4f68', description: 'First 16 hex digits of SHA-256 of the secret' })
  secret_fingerprint!: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Until then deliveries are also signed with the secret before the last rotation',
  })
  previous_secret_expires_at!: string | null;
  @ApiProperty({ type: [String] }) tags!: string[];
  @ApiProperty({ example: 0 }) consecutive_failures!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) paused_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) last_delivery_at!: string | null;
  @ApiProperty({ type: String, nullable: true }) last_delivery_status!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty() created_by!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty() updated_by!: string;
  @ApiProperty({ example: '1' }) revision!: string;
}

export class WebhookCreatedDto extends WebhookDto {
  @ApiProperty({ example: 'whsec_…', description: 'The signing secret: in this response only, never again' })
  secret!: string;
}

export class WebhookResultDto {
  @ApiProperty({ type: WebhookDto }) webhook!: WebhookDto;
}

export class WebhookRotatedDto {
  @ApiProperty({ type: WebhookDto }) webhook!: WebhookDto;
  @ApiProperty({ example: 'whsec_…', description: 'The new signing secret: in this response only, never again' })
  secret!: string;
}

export class WebhookDeletedDto {
  @ApiProperty({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) webhook_id!: string;
  @ApiProperty({ format: 'date-time' }) deleted_at!: string;
}
