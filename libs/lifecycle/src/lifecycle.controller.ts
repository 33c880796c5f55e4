import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, PageTokens, pageInMemory } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { LifecycleListDto, LifecycleListRequestDto, LifecycleMachineDto } from './lifecycle.dto';
import { MACHINES } from './machines';

@ApiTags('lifecycle')
@Controller('lifecycle')
@Authenticated()
export class LifecycleController {
  constructor(private readonly pages: PageTokens) {}

  @Post('list')
  @ApiOperation({ summary: 'The state machines the services enforce (webhook, delivery, bulk_job, kpi_alert)' })
  @ApiEnvelope(LifecycleListDto)
  list(@CurrentCaller() caller: Caller, @Body() body: LifecycleListRequestDto): LifecycleListDto {
    const matching: LifecycleMachineDto[] = MACHINES.filter(
      (m) => (!body.service || m.service === body.service) && (!body.name || m.name === body.name),
    ).map((m) => ({ ...m, states: [...m.states], transitions: [...m.transitions] }));
    const page = pageInMemory(this.pages, matching, (m) => m.name, body, {
      orgcode: caller.orgcode,
      resource: 'lifecycle.list',
      filters: { service: body.service, name: body.name },
    });
    return { ...page, version: page.items.map((m) => `${m.name}@${m.version}`).join(',') };
  }
}
