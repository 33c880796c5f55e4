import { Column } from 'typeorm';

/**
 * The bookkeeping columns of every revisioned record: who made it and when, who changed it last
 * and when, and its revision (bumped on every change through TenantRepository.revise(); updates
 * must name it, 428/409). A table whose key starts with the tenant (event_types) extends this and
 * declares `orgcode` as its first @PrimaryColumn; every other one extends TenantRevisionedRecord.
 */
export abstract class RevisionedRecord {
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

/**
 * A revisioned record of a tenant: RevisionedRecord's columns and the tenant column (TenantOwned's,
 * declared here too because TypeORM keeps a base class's column over a subclass's redeclaration).
 */
export abstract class TenantRevisionedRecord extends RevisionedRecord {
  @Column({ type: 'varchar', length: 64 })
  orgcode!: string;
}
