import { Module } from '@nestjs/common';
import { KpiRollup } from './platform/kpi-rollup';

/** KPIs in the worker: `maintenance.kpi_rollup` (finished deliveries into each tenant's hourly platform KPIs). */
@Module({
  providers: [KpiRollup],
  exports: [KpiRollup],
})
export class KpisWorkerModule {}
