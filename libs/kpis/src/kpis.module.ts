import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '@ipm/audit/audit.module';
import { KpiSnapshotEntity } from './entities/kpi-snapshot.entity';
import { KpiService } from './kpi.service';

/** KPI snapshots' storage and upsert, for the api routes and the bulk worker alike. */
@Module({
  imports: [TypeOrmModule.forFeature([KpiSnapshotEntity]), AuditModule],
  providers: [KpiService],
  exports: [KpiService, TypeOrmModule],
})
export class KpisModule {}
