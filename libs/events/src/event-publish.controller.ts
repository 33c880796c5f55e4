import { Controller, createParamDecorator, ExecutionContext, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiEnvelope, Idempotent } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { PublishRequestDto, PublishResultDto } from './dto/publish.dto';
import { EventPublishService } from './event-publish.service';
import { parsePublishRequest } from './publish-request';

/** The body as parsed: a custom decorator, which the global validation pipe leaves to parsePublishRequest. */
export const RawBody = createParamDecorator((_: unknown, ctx: ExecutionContext): unknown => {
  return ctx.switchToHttp().getRequest<FastifyRequest>().body;
});

@ApiTags('events')
@Controller('event')
export class EventPublishController {
  constructor(private readonly events: EventPublishService) {}

  @Post('publish')
  @Authenticated({ permission: Permission.PublishEvents, rateLimit: 'publish' })
  @Idempotent()
  @ApiOperation({
    summary: 'Publish 1-500 events; each is validated against its catalog schema, the good ones are stored',
    description:
      'Per item: stored, duplicate (its event_id exists, or repeats an earlier item) or rejected (with the ' +
      "validator's message and path). 200 when anything was stored or was a duplicate; 422 when every item was rejected.",
  })
  @ApiBody({ type: PublishRequestDto })
  @ApiEnvelope(PublishResultDto, { errors: [400, 413, 422] })
  async publish(@CurrentCaller() caller: Caller, @RawBody() body: unknown): Promise<PublishResultDto> {
    return this.events.publish(caller, await parsePublishRequest(body));
  }
}
