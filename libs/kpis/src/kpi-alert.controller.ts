import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, Idempotent } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { KpiAlertRequestDto, KpiAlertResultDto } from './alerts/kpi-alert.dto';
import { KpiAlertService } from './alerts/kpi-alert.service';

@ApiTags('kpis')
@Controller('kpi')
export class KpiAlertController {
  constructor(private readonly alerts: KpiAlertService) {}

  @Post('alert')
  @Authenticated({ permission: Permission.ManageKpis })
  @Idempotent()
  @ApiOperation({
    summary: 'Evaluate a KPI threshold; store the alert and, when asked and crossed, publish ipm.kpi.alert',
    description:
      'Compares alert.value (or, when absent, the stored snapshot of that bucket: 404 if none) with the threshold ' +
      '(gt, gte, lt, lte, eq, neq; eq/neq within a relative 1e-9). One alert per (kpi_code, scope, bucket, ' +
      'bucket_start, comparator, threshold): asking again evaluates it again (its revision moves). Crossed: ' +
      'firing (a resolved alert fires again); back within: resolved. With notify, a crossing publishes ' +
      'ipm.kpi.alert to subscribed webhooks, unless the alert was notified within KPI_ALERT_COOLDOWN_MINUTES ' +
      '(then notified is false and cooldown_until says until when). Bucket alignment as /kpi/record (400).',
  })
  @ApiEnvelope(KpiAlertResultDto, { errors: [400, 404, 409, 413, 422] })
  alert(@CurrentCaller() caller: Caller, @Body() body: KpiAlertRequestDto): Promise<KpiAlertResultDto> {
    return this.alerts.evaluate(caller, body);
  }
}
