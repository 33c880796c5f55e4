export * from './audit-log.entity';
export * from './audit.service';
export * from './audit.module';
export * from './audit.api.module';
export * from './dto/audit.dto';
