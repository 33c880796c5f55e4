import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsISO8601, IsOptional, IsString, Length, Matches } from 'class-validator';
import { EVENT_TYPE_PATTERN, IdField, idPattern, IdPrefix, ListRequestDto, MutationRequestDto } from '@ipm/core';
import { DeliveryMachine, type DeliveryStatus } from '@ipm/lifecycle';
import type { DeliveryErrorKind, DeliveryOrigin } from '../../entities/delivery.entity';
import type { ReplayStatus } from '../../entities/webhook-replay.entity';
import { WEBHOOK_ID_PATTERN } from '../../dto/webhook.dto';

export const DELIVERY_ID_PATTERN = idPattern(IdPrefix.Delivery);
export const REPLAY_ID_PATTERN = idPattern(IdPrefix.Replay);
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = DeliveryMachine.states.map((s) => s.name);
export const DELIVERY_ORIGINS: readonly DeliveryOrigin[] = ['event', 'retry', 'replay', 'test'];
export const REPLAY_STATUSES: readonly ReplayStatus[] = ['queued', 'running', 'completed', 'failed'];
export const STATS_WINDOWS = ['1h', '24h', '7d'] as const;
export type StatsWindow = (typeof STATS_WINDOWS)[number];
const EVENT_TYPE_MESSAGE = 'event_type must be an event type such as rfp.created';

function EventTypeField(required: boolean, description: string): PropertyDecorator {
  return applyDecorators(
    required
      ? ApiProperty({ example: 'rfp.created', description })
      : ApiPropertyOptional({ example: 'rfp.created', description }),
    ...(required ? [] : [IsOptional()]),
    IsString(),
    Length(3, 200),
    Matches(EVENT_TYPE_PATTERN, { message: EVENT_TYPE_MESSAGE }),
  );
}

function DateTimeField(description: string): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ format: 'date-time', description }),
    IsOptional(),
    IsISO8601({ strict: true }, { message: '$property must be an ISO 8601 date-time' }),
  );
}

export class DeliveryListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', description: 'Only this webhook’s deliveries' })
  @IsOptional()
  @IsString()
  @Matches(WEBHOOK_ID_PATTERN, { message: 'webhook_id must be a whk_ id' })
  webhook_id?: string;

  @ApiPropertyOptional({ enum: DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(DELIVERY_STATUSES)
  status?: DeliveryStatus;

  @EventTypeField(false, 'Only deliveries of this event type')
  event_type?: string;

  @DateTimeField('Created at or after this time')
  after?: string;

  @DateTimeField('Created before this time')
  before?: string;

  @ApiPropertyOptional({
    enum: ['asc', 'desc'],
    default: 'desc',
    description: 'desc: newest first; asc: oldest first (creation order, ties by delivery_id)',
  })
  @IsOptional()
  @IsIn(['asc', 'desc'])
  order?: 'asc' | 'desc';
}

export class DeliveryGetRequestDto {
  @IdField('delivery_id', IdPrefix.Delivery)
  delivery_id!: string;
}

export class DeliveryRetryRequestDto extends MutationRequestDto {
  @IdField('delivery_id', IdPrefix.Delivery)
  delivery_id!: string;
}

export class DeliveryPurgeRequestDto extends MutationRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;
}

export class WebhookReplayRequestDto extends MutationRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;

  @DateTimeField('Events received at or after this time (default: the oldest stored)')
  after?: string;

  @DateTimeField('Events received before this time (default: when the replay was requested)')
  before?: string;

  @ApiPropertyOptional({ default: false, description: 'Only events this webhook never received successfully' })
  @IsOptional()
  @IsBoolean()
  only_failed?: boolean;
}

export class ReplayGetRequestDto {
  @ApiProperty({ example: 'rpl_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' })
  @IsString()
  @Matches(REPLAY_ID_PATTERN, { message: 'replay_id must be a rpl_ id' })
  replay_id!: string;
}

export class WebhookTestRequestDto extends MutationRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;

  @EventTypeField(true, 'An event type of the catalog: its specimen is sent')
  event_type!: string;
}

export class WebhookVerifyRequestDto extends MutationRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;
}

export class WebhookStatsRequestDto {
  @IdField('webhook_id', IdPrefix.Webhook)
  webhook_id!: string;
}

export class DeliveryDto {
  @ApiProperty({ example: 'dlv_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', description: 'Also the webhook-id header' })
  delivery_id!: string;
  @ApiProperty({ example: 'acme' }) orgcode!: string;
  @ApiProperty({ type: String, nullable: true }) app_id!: string | null;
  @ApiProperty({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) webhook_id!: string;
  @ApiProperty({ type: String, nullable: true, example: '1042', description: 'The stored event (null for a test)' })
  event_seq!: string | null;
  @ApiProperty({ example: 'evt_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) event_id!: string;
  @ApiProperty({ example: 'rfp.created' }) event_type!: string;
  @ApiProperty({ enum: DELIVERY_STATUSES }) status!: DeliveryStatus;
  @ApiProperty({ enum: DELIVERY_ORIGINS }) origin!: DeliveryOrigin;
  @ApiProperty({ type: String, nullable: true, description: 'The delivery a manual retry repeats' })
  retry_of!: string | null;
  @ApiProperty({ type: String, nullable: true }) replay_id!: string | null;
  @ApiProperty({ example: 1 }) attempt_count!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) next_attempt_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) last_attempt_at!: string | null;
  @ApiProperty({ type: Number, nullable: true, example: 200 }) last_status_code!: number | null;
  @ApiProperty({ type: String, nullable: true, example: 'timeout' }) last_error_kind!: DeliveryErrorKind | null;
  @ApiProperty({ type: String, nullable: true }) last_error!: string | null;
  @ApiProperty({ type: Number, nullable: true, example: 120 }) last_duration_ms!: number | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finished_at!: string | null;
}

export class DeliveryAttemptDto {
  @ApiProperty({ example: 1 }) attempt_no!: number;
  @ApiProperty({ format: 'date-time' }) started_at!: string;
  @ApiProperty({ example: 120 }) duration_ms!: number;
  @ApiProperty({ type: Number, nullable: true, example: 200 }) status_code!: number | null;
  @ApiProperty({ type: String, nullable: true, example: 'timeout' }) error_kind!: DeliveryErrorKind | null;
  @ApiProperty({ type: String, nullable: true }) error!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  response_headers!: Record<string, string>;
  @ApiProperty({ description: 'The first 4 KiB of the response body' }) response_excerpt!: string;
  @ApiProperty({ example: 'success', description: 'success, retrying, failed or dead_letter' }) outcome!: string;
}

export class DeliveryDetailDto extends DeliveryDto {
  @ApiProperty({ type: [DeliveryAttemptDto], description: 'In attempt order' })
  attempts!: DeliveryAttemptDto[];
}

export class DeliveryResultDto {
  @ApiProperty({ type: DeliveryDto }) delivery!: DeliveryDto;
}

export class DeliveryDetailResultDto {
  @ApiProperty({ type: DeliveryDetailDto }) delivery!: DeliveryDetailDto;
}

export class DeliveryPurgedDto {
  @ApiProperty({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) webhook_id!: string;
  @ApiProperty({ example: 1200, description: 'Finished deliveries deleted (with their attempts)' }) purged!: number;
}

export class ReplayDto {
  @ApiProperty({ example: 'rpl_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) replay_id!: string;
  @ApiProperty({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) webhook_id!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) after!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) before!: string | null;
  @ApiProperty() only_failed!: boolean;
  @ApiProperty({ enum: REPLAY_STATUSES }) status!: ReplayStatus;
  @ApiProperty({ description: 'Deliveries the replay created' }) events_matched!: number;
  @ApiProperty({ description: 'Of those: delivered (success)' }) delivered!: number;
  @ApiProperty({ description: 'Of those: failed or dead-lettered' }) failed!: number;
  @ApiProperty({ description: 'Of those: not finished yet' }) pending!: number;
  @ApiProperty({ description: 'Completed, and every delivery finished' }) done!: boolean;
  @ApiProperty({ type: String, nullable: true }) error!: string | null;
  @ApiProperty() created_by!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finished_at!: string | null;
}

export class ReplayResultDto {
  @ApiProperty({ type: ReplayDto }) replay!: ReplayDto;
}

export class WebhookVerifiedDto {
  @ApiProperty({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) webhook_id!: string;
  @ApiProperty() verified!: boolean;
  @ApiPropertyOptional({ example: 'challenge mismatch', description: 'Why not (absent when verified)' })
  reason?: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'The last successful verification' })
  verified_at!: string | null;
}

export class DeliveryCountsDto {
  @ApiProperty() pending!: number;
  @ApiProperty() in_flight!: number;
  @ApiProperty() retrying!: number;
  @ApiProperty() success!: number;
  @ApiProperty() failed!: number;
  @ApiProperty() dead_letter!: number;
}

export class LatencyDto {
  @ApiProperty({ type: Number, nullable: true, example: 84 }) p50!: number | null;
  @ApiProperty({ type: Number, nullable: true, example: 310 }) p95!: number | null;
}

export class WindowStatsDto {
  @ApiProperty({ enum: STATS_WINDOWS }) window!: StatsWindow;
  @ApiProperty({ format: 'date-time', description: 'Start of the window' }) since!: string;
  @ApiProperty({ description: 'Deliveries created in the window' }) total!: number;
  @ApiProperty({ type: DeliveryCountsDto }) by_status!: DeliveryCountsDto;
  @ApiProperty({
    type: Number,
    nullable: true,
    example: 0.98,
    description: 'success / finished (success, failed, dead_letter); null when none finished',
  })
  success_rate!: number | null;
  @ApiProperty({ description: 'Attempts started in the window' }) attempts!: number;
  @ApiProperty({ type: LatencyDto, description: 'Attempt durations (ms) of attempts started in the window' })
  latency_ms!: LatencyDto;
}

export class WebhookStatsDto {
  @ApiProperty({ example: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) webhook_id!: string;
  @ApiProperty({ format: 'date-time' }) as_of!: string;
  @ApiProperty({ type: [WindowStatsDto], description: '1h, 24h and 7d' }) windows!: WindowStatsDto[];
}
