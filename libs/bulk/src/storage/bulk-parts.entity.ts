import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TenantOwned } from '@ipm/persistence';

/**
 * One part of a stored bulk object (an upload, an export file or a line report): the bytes
 * a `BulkPartWriter` persisted in order, `part_no` counting from 0. PostgreSQL is the default
 * store so that the api and the worker can run on different machines.
 */
@Entity({ name: 'bulk_parts' })
@Index('ix_bulk_parts_created', ['created_at'])
export class BulkPartEntity extends TenantOwned {
  @PrimaryColumn({ type: 'varchar', length: 40, primaryKeyConstraintName: 'pk_bulk_parts' })
  job_id!: string;

  /** `upload` | `export` | `report`. */
  @PrimaryColumn({ type: 'varchar', length: 16, primaryKeyConstraintName: 'pk_bulk_parts' })
  kind!: string;

  @PrimaryColumn({ type: 'int', primaryKeyConstraintName: 'pk_bulk_parts' })
  part_no!: number;

  @Column({ type: 'bytea' })
  data!: Buffer;

  @Column({ type: 'int' })
  bytes!: number;

  @Column({ type: 'timestamptz' })
  created_at!: Date;
}
