import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, Page } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { CdcService } from './cdc.service';
import { CdcEventDto, CdcListRequestDto } from './dto/cdc.dto';

@ApiTags('events')
@Controller('cdc')
export class CdcController {
  constructor(private readonly cdc: CdcService) {}

  @Post('list')
  @Authenticated()
  @ApiOperation({
    summary: "The tenant's change feed: its events (published and platform), gap-free, in commit-horizon order",
    description:
      'Filters: service, event_type, logical_guid, channel_code, and after/before (exclusive bounds on received_at). ' +
      "An application principal (app_id) sees only its application's events. " +
      'Order and guarantee: events are sorted by position (the id of the transaction that stored them, then ' +
      'sequence), and the feed serves only the events of transactions older than every transaction still open ' +
      'on the PostgreSQL server (its commit horizon). The feed is therefore append-only and gap-free: an event ' +
      'never appears before one already served, so a consumer that follows next_token misses no event, and each ' +
      'read is a prefix of every later one. The cost is latency: while an older transaction is still open, the ' +
      'feed waits, serving nothing stored after it, even events that have already committed. received_at is ' +
      "the storing transaction's start, so after/before windows filter but do not resume a feed.",
  })
  @ApiEnvelope(CdcEventDto, { list: true })
  list(@CurrentCaller() caller: Caller, @Body() body: CdcListRequestDto): Promise<Page<CdcEventDto>> {
    return this.cdc.list(caller, body);
  }
}
