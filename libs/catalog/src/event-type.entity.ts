import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { RevisionedRecord } from '@ipm/persistence';

/** An event type a tenant added to its catalog (platform types live in definitions/*.json). */
@Entity({ name: 'event_types' })
@Index('ix_event_types_org_service', ['orgcode', 'service', 'event_type'])
export class EventTypeEntity extends RevisionedRecord {
  /** The tenant, first column of the key (so not TenantOwned's plain column). */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  orgcode!: string;

  @PrimaryColumn({ type: 'varchar', length: 200 })
  event_type!: string;

  @Column({ type: 'varchar', length: 64 })
  service!: string;

  @Column({ type: 'varchar', length: 135 })
  action!: string;

  /** Bumped when the schema changes. */
  @Column({ type: 'int' })
  version!: number;

  @Column({ type: 'text' })
  description!: string;

  @Column({ type: 'jsonb' })
  schema!: object;

  @Column({ type: 'jsonb' })
  specimen!: object;

  @Column({ type: 'timestamptz', nullable: true })
  deprecated_at!: Date | null;
}
