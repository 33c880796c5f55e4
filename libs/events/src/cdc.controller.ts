import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, Page } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth/authenticated.decorator';
import type { Caller } from '@ipm/auth/principal';
import { CdcService } from './cdc.service';
import { CdcEventDto, CdcListRequestDto } from './dto/cdc.dto';

@ApiTags('events')
@Controller('cdc')
export class CdcController {
  constructor(private readonly cdc: CdcService) {}

  @Post('list')
  @Authenticated()
  @ApiOperation({
    summary: "The tenant's change feed: its events (published and platform) in arrival order",
    description:
      'Filters: service, event_type, logical_guid, channel_code, and after/before (exclusive bounds on received_at). ' +
      "An application principal (app_id) sees only its application's events. sequence is the order of " +
      'insertion: a publish whose transaction commits later than a concurrent one can surface with a lower ' +
      'sequence, so a consumer that polls by time should overlap its windows by a few seconds.',
  })
  @ApiEnvelope(CdcEventDto, { list: true })
  list(@CurrentCaller() caller: Caller, @Body() body: CdcListRequestDto): Promise<Page<CdcEventDto>> {
    return this.cdc.list(caller, body);
  }
}
