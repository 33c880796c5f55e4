import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, Idempotent } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { KpiRecordRequestDto, KpiRecordResultDto } from './dto/kpi.dto';
import { KpiService } from './kpi.service';

@ApiTags('kpis')
@Controller('kpi')
export class KpiController {
  constructor(private readonly kpis: KpiService) {}

  @Post('record')
  @Authenticated({ permission: Permission.ManageKpis })
  @Idempotent()
  @ApiOperation({
    summary: 'Record a KPI snapshot: one per (kpi_code, scope, bucket, bucket_start)',
    description:
      'Creates the snapshot, or replaces the value of the existing one (expected_revision required: 428 if ' +
      'missing, 409 if stale). bucket_start must be aligned to the bucket in UTC (weeks start on Monday) and ' +
      'bucket_end, when given, must be its end: else a 400 with the reason. An application principal can only ' +
      'replace its own application’s snapshots (403).',
  })
  @ApiEnvelope(KpiRecordResultDto, { errors: [400, 409, 413, 422, 428] })
  record(@CurrentCaller() caller: Caller, @Body() body: KpiRecordRequestDto): Promise<KpiRecordResultDto> {
    return this.kpis.record(caller, body);
  }
}
