import { Module } from '@nestjs/common';
import { KpiController } from './kpi.controller';
import { KpiAlertController } from './kpi-alert.controller';
import { KpiQueryController } from './kpi-query.controller';
import { KpisModule } from './kpis.module';

/** The api side: the /kpi routes. */
@Module({
  imports: [KpisModule],
  controllers: [KpiController, KpiQueryController, KpiAlertController],
})
export class KpisApiModule {}
