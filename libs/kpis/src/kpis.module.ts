import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '@ipm/audit';
import { EventsModule } from '@ipm/events';
import { KpiAlertEntity } from './alerts/kpi-alert.entity';
import { KpiAlertService } from './alerts/kpi-alert.service';
import { KpiSnapshotEntity } from './entities/kpi-snapshot.entity';
import { KpiService } from './kpi.service';
import { KpiQueryService } from './query/kpi-query.service';
import { KpiAlertsRepository } from './alerts/kpi-alerts.repository';
import { KpiSnapshotsRepository } from './entities/kpi-snapshots.repository';

/** KPI snapshots' storage and upsert, for the api routes and the bulk worker alike. */
@Module({
  imports: [TypeOrmModule.forFeature([KpiSnapshotEntity, KpiAlertEntity]), AuditModule, EventsModule],
  providers: [KpiSnapshotsRepository, KpiAlertsRepository, KpiService, KpiQueryService, KpiAlertService],
  exports: [KpiService, TypeOrmModule, KpiQueryService, KpiAlertService],
})
export class KpisModule {}
