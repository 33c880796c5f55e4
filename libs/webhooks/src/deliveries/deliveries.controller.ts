import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, Idempotent, Page } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { DeliveriesService } from './deliveries.service';
import {
  DeliveryDetailResultDto,
  DeliveryDto,
  DeliveryGetRequestDto,
  DeliveryListRequestDto,
  DeliveryPurgedDto,
  DeliveryPurgeRequestDto,
  DeliveryResultDto,
  DeliveryRetryRequestDto,
  ReplayGetRequestDto,
  ReplayResultDto,
  WebhookReplayRequestDto,
  WebhookStatsDto,
  WebhookStatsRequestDto,
  WebhookTestRequestDto,
  WebhookVerifiedDto,
  WebhookVerifyRequestDto,
} from './dto/delivery.dto';
import { ReplaysService } from './replays.service';
import { WebhookChecksService } from './webhook-checks.service';

/** The delivery log and the operations on deliveries: retry, purge, replay, test, verify, stats. */
@ApiTags('webhooks')
@Controller('webhook')
@Authenticated({ permission: Permission.ManageWebhooks })
export class DeliveriesController {
  constructor(
    private readonly deliveries: DeliveriesService,
    private readonly replays: ReplaysService,
    private readonly checks: WebhookChecksService,
  ) {}

  @Post('delivery/list')
  @ApiOperation({
    summary: 'List deliveries, newest first (filters: webhook_id, status, event_type, after/before on created_at)',
  })
  @ApiEnvelope(DeliveryDto, { list: true })
  list(@CurrentCaller() caller: Caller, @Body() body: DeliveryListRequestDto): Promise<Page<DeliveryDto>> {
    return this.deliveries.list(caller, body);
  }

  @Post('delivery/get')
  @ApiOperation({ summary: 'Get a delivery with each of its attempts' })
  @ApiEnvelope(DeliveryDetailResultDto)
  get(@CurrentCaller() caller: Caller, @Body() body: DeliveryGetRequestDto): Promise<DeliveryDetailResultDto> {
    return this.deliveries.get(caller, body);
  }

  @Post('delivery/retry')
  @Idempotent()
  @ApiOperation({
    summary: 'Send a failed or dead_letter delivery again, as a fresh delivery (422 while it is still in progress)',
  })
  @ApiEnvelope(DeliveryResultDto, { errors: [400, 413, 422] })
  retry(@CurrentCaller() caller: Caller, @Body() body: DeliveryRetryRequestDto): Promise<DeliveryResultDto> {
    return this.deliveries.retry(caller, body);
  }

  @Post('delivery/purge')
  @ApiOperation({ summary: 'Delete a webhook’s finished deliveries (success, failed, dead_letter) and their attempts' })
  @ApiEnvelope(DeliveryPurgedDto)
  purge(@CurrentCaller() caller: Caller, @Body() body: DeliveryPurgeRequestDto): Promise<DeliveryPurgedDto> {
    return this.deliveries.purge(caller, body);
  }

  @Post('replay')
  @ApiOperation({
    summary: 'Re-deliver a webhook’s stored events received in [after, before) (only_failed: those never delivered)',
  })
  @ApiEnvelope(ReplayResultDto, { errors: [400, 413, 422] })
  replay(@CurrentCaller() caller: Caller, @Body() body: WebhookReplayRequestDto): Promise<ReplayResultDto> {
    return this.replays.replay(caller, body);
  }

  @Post('replay/get')
  @ApiOperation({ summary: 'A replay’s progress: events matched, delivered, failed, pending' })
  @ApiEnvelope(ReplayResultDto)
  replayGet(@CurrentCaller() caller: Caller, @Body() body: ReplayGetRequestDto): Promise<ReplayResultDto> {
    return this.replays.get(caller, body);
  }

  @Post('test')
  @ApiOperation({
    summary: 'Send the specimen of an event type to the webhook and wait (up to its timeout + 2 s) for the outcome',
  })
  @ApiEnvelope(DeliveryResultDto, { errors: [400, 413, 422] })
  test(@CurrentCaller() caller: Caller, @Body() body: WebhookTestRequestDto): Promise<DeliveryResultDto> {
    return this.checks.test(caller, body);
  }

  @Post('verify')
  @ApiOperation({
    summary: 'Post a signed challenge to the endpoint; verified when it answers 2xx echoing { "challenge": … }',
  })
  @ApiEnvelope(WebhookVerifiedDto)
  verify(@CurrentCaller() caller: Caller, @Body() body: WebhookVerifyRequestDto): Promise<WebhookVerifiedDto> {
    return this.checks.verify(caller, body);
  }

  @Post('stats')
  @ApiOperation({ summary: 'Deliveries by status, success rate and attempt latency p50/p95 over 1h, 24h and 7d' })
  @ApiEnvelope(WebhookStatsDto)
  stats(@CurrentCaller() caller: Caller, @Body() body: WebhookStatsRequestDto): Promise<WebhookStatsDto> {
    return this.deliveries.stats(caller, body);
  }
}
