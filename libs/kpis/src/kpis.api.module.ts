import { Module } from '@nestjs/common';
import { KpiController } from './kpi.controller';
import { KpiAlertController } from './kpi-alert.controller';
import { KpisModule } from './kpis.module';

/** The api side: the /kpi routes. */
@Module({
  imports: [KpisModule],
  controllers: [KpiController, KpiAlertController],
})
export class KpisApiModule {}
