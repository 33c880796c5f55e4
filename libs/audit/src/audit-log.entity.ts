import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TenantOwned } from '@ipm/persistence';

export interface SourceRef {
  kind: string;
  id: string;
}

/** One mutation: who did what to which record, why, written in the change's own transaction. */
@Entity({ name: 'audit_log' })
@Index('ix_audit_org', ['orgcode', 'audit_id'])
@Index('ix_audit_org_action', ['orgcode', 'action', 'audit_id'])
@Index('ix_audit_org_target', ['orgcode', 'target_id', 'audit_id'])
export class AuditLogEntity extends TenantOwned {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  audit_id!: string;

  @Column({ type: 'varchar', length: 16 })
  actor_type!: 'user' | 'api_key' | 'system';

  @Column({ type: 'varchar', length: 200 })
  actor_id!: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  app_id!: string | null;

  @Column({ type: 'varchar', length: 100 })
  action!: string;

  @Column({ type: 'varchar', length: 40, nullable: true })
  target_type!: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  target_id!: string | null;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  @Column({ type: 'jsonb' })
  source_refs!: SourceRef[];

  @Column({ type: 'jsonb', nullable: true })
  request_context!: object | null;

  /** Non-secret facts about the change (e.g. changed field names). */
  @Column({ type: 'jsonb', nullable: true })
  metadata!: object | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created_at!: Date;
}
