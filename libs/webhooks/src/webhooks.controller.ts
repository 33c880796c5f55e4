import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, Idempotent, Page } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import {
  WebhookCreatedDto,
  WebhookCreateRequestDto,
  WebhookDeletedDto,
  WebhookDeleteRequestDto,
  WebhookDto,
  WebhookGetRequestDto,
  WebhookListRequestDto,
  WebhookResultDto,
  WebhookRotatedDto,
  WebhookSecretRotateRequestDto,
  WebhookStatusSetRequestDto,
  WebhookUpdateRequestDto,
} from './dto/webhook.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@Controller('webhook')
@Authenticated({ permission: Permission.ManageWebhooks })
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post('create')
  @Idempotent()
  @ApiOperation({ summary: 'Create a webhook subscription; its signing secret is in this response only' })
  @ApiEnvelope(WebhookCreatedDto, { errors: [400, 413, 422] })
  create(@CurrentCaller() caller: Caller, @Body() body: WebhookCreateRequestDto): Promise<WebhookCreatedDto> {
    return this.webhooks.create(caller, body);
  }

  @Post('get')
  @ApiOperation({ summary: 'Get a webhook (never its secret)' })
  @ApiEnvelope(WebhookResultDto)
  get(@CurrentCaller() caller: Caller, @Body() body: WebhookGetRequestDto): Promise<WebhookResultDto> {
    return this.webhooks.get(caller, body);
  }

  @Post('list')
  @ApiOperation({
    summary: 'List webhooks (filters: status, event_type, tag, app_id; order_by created or name), never secrets',
  })
  @ApiEnvelope(WebhookDto, { list: true })
  list(@CurrentCaller() caller: Caller, @Body() body: WebhookListRequestDto): Promise<Page<WebhookDto>> {
    return this.webhooks.list(caller, body);
  }

  @Post('update')
  @ApiOperation({ summary: 'Change some of a webhook’s fields (expected_revision required)' })
  @ApiEnvelope(WebhookResultDto, { errors: [400, 409, 413, 422, 428] })
  update(@CurrentCaller() caller: Caller, @Body() body: WebhookUpdateRequestDto): Promise<WebhookResultDto> {
    return this.webhooks.update(caller, body);
  }

  @Post('status/set')
  @ApiOperation({ summary: 'Pause, disable or re-activate a webhook (lifecycle machine; expected_revision required)' })
  @ApiEnvelope(WebhookResultDto, { errors: [400, 409, 413, 428] })
  setStatus(@CurrentCaller() caller: Caller, @Body() body: WebhookStatusSetRequestDto): Promise<WebhookResultDto> {
    return this.webhooks.setStatus(caller, body);
  }

  @Post('delete')
  @ApiOperation({ summary: 'Delete a webhook (soft): gone from get and list, deliveries stop' })
  @ApiEnvelope(WebhookDeletedDto, { errors: [400, 409, 413] })
  delete(@CurrentCaller() caller: Caller, @Body() body: WebhookDeleteRequestDto): Promise<WebhookDeletedDto> {
    return this.webhooks.delete(caller, body);
  }

  @Post('secret/rotate')
  @ApiOperation({
    summary:
      'Rotate the signing secret: the new one is in this response only; the old one signs too during the grace period',
  })
  @ApiEnvelope(WebhookRotatedDto, { errors: [400, 409, 413] })
  rotateSecret(
    @CurrentCaller() caller: Caller,
    @Body() body: WebhookSecretRotateRequestDto,
  ): Promise<WebhookRotatedDto> {
    return this.webhooks.rotateSecret(caller, body);
  }
}
