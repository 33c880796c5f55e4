import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BULK_STORAGE } from './storage/bulk-storage';
import { BulkPartEntity } from './storage/bulk-parts.entity';
import { PgBulkStorage } from './storage/pg-bulk-storage';

/**
 * Where bulk files live (uploads, export parts, reports): PostgreSQL by default, so that the api
 * and the worker can run on different machines. Inject with `@Inject(BULK_STORAGE)`.
 */
@Module({
  imports: [TypeOrmModule.forFeature([BulkPartEntity])],
  providers: [
    {
      provide: BULK_STORAGE,
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => new PgBulkStorage(dataSource),
    },
  ],
  exports: [BULK_STORAGE],
})
export class BulkStorageModule {}
