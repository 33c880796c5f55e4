import { Body, CanActivate, Controller, ExecutionContext, Injectable, Post, UseGuards } from '@nestjs/common';
import { ApiExtraModels, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiEnvelope, AppError } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { KpiQueryRequestDto, KpiQueryResultDto, KpiRollupPointDto } from './dto/kpi-query.dto';
import { KpiDto } from './dto/kpi.dto';
import { KpiQueryService } from './query/kpi-query.service';

const READ_KPIS: readonly Permission[] = [Permission.ViewKpis, Permission.ManageKpis];

/**
 * Reading KPIs needs view_kpis or manage_kpis; `@Authenticated` names one permission, so this guard
 * (run after the global one has set the caller, before the body is validated) checks either.
 */
@Injectable()
class ReadKpisGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const caller = context.switchToHttp().getRequest<FastifyRequest>().caller;
    if (!caller) throw AppError.unauthorized();
    if (!READ_KPIS.some((p) => caller.permissions.includes(p))) {
      throw AppError.forbidden(`Permission ${READ_KPIS.join(' or ')} is required`);
    }
    return true;
  }
}

@ApiTags('kpis')
@Controller('kpi')
export class KpiQueryController {
  constructor(private readonly kpis: KpiQueryService) {}

  @Post('query')
  @Authenticated()
  @UseGuards(ReadKpisGuard)
  @ApiExtraModels(KpiDto, KpiRollupPointDto)
  @ApiOperation({
    summary: 'Query a KPI series: snapshots of one kpi_code and bucket with bucket_start in [from_utc, to_utc)',
    description:
      'Needs view_kpis or manage_kpis (403). Ordered by bucket_start and keyset-paginated (`limit`, ' +
      '`next_token`, bound to the query). Without `rollup`: the stored snapshots. With `rollup`: finer ' +
      'snapshots aggregated in UTC into the coarse `bucket` (computed points with `count`, no kpi_id). ' +
      'An application principal sees only its own application’s snapshots; another tenant’s never.',
  })
  @ApiEnvelope(KpiQueryResultDto, { errors: [400, 403, 413] })
  query(@CurrentCaller() caller: Caller, @Body() body: KpiQueryRequestDto): Promise<KpiQueryResultDto> {
    return this.kpis.query(caller, body);
  }
}
