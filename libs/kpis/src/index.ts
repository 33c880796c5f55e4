export * from './buckets';
export * from './kpi-record';
export * from './entities/kpi-snapshot.entity';
export * from './dto/kpi.dto';
export * from './kpi.service';
export * from './kpis.module';
export * from './kpis.api.module';
export * from './kpi.controller';
