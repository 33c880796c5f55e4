import { Column } from 'typeorm';
import { TenantOwned } from './tenant-repository';

/**
 * The bookkeeping columns of every revisioned record, which is always a tenant's (TenantOwned's
 * `orgcode`): who made it and when, who changed it last and when, and its revision (bumped on
 * every change through TenantRepository.revise(); updates must name it, 428/409).
 */
export abstract class RevisionedRecord extends TenantOwned {
  @Column({ type: 'timestamptz' })
  created_at!: Date;

  @Column({ type: 'varchar', length: 200 })
  created_by!: string;

  @Column({ type: 'timestamptz' })
  updated_at!: Date;

  @Column({ type: 'varchar', length: 200 })
  updated_by!: string;

  @Column({ type: 'int' })
  revision!: number;
}
