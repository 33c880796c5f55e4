import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TenantOwned } from '@ipm/persistence';

/** An API key. Only the SHA-256 of the key is kept; `prefix` is what people see to tell keys apart. */
@Entity({ name: 'api_keys' })
@Index('ix_api_keys_org', ['orgcode', 'key_id'])
@Index('ix_api_keys_parent', ['orgcode', 'parent_key_id'])
export class ApiKeyEntity extends TenantOwned {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  key_id!: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  app_id!: string | null;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 16 })
  prefix!: string;

  @Index('ux_api_keys_hash', { unique: true })
  @Column({ type: 'char', length: 64 })
  key_hash!: string;

  @Column({ type: 'text', array: true })
  permissions!: string[];

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created_at!: Date;

  @Column({ type: 'varchar', length: 200 })
  created_by!: string;

  /** The API key that created this one (null when a user did): revoking that key revokes this one too. */
  @Column({ type: 'varchar', length: 40, nullable: true })
  parent_key_id!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  expires_at!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  last_used_at!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  revoked_at!: Date | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  revoked_by!: string | null;
}
