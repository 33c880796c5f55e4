import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** The first response to a creating POST, kept so a retry with the same Idempotency-Key gets it again. */
@Entity({ name: 'idempotency_keys' })
@Index('ix_idempotency_expires', ['expires_at'])
export class IdempotencyRecordEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  orgcode!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  idempotency_key!: string;

  @Column({ type: 'varchar', length: 200 })
  call!: string;

  @Column({ type: 'char', length: 64 })
  request_hash!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: 'in_progress' | 'completed';

  @Column({ type: 'int', nullable: true })
  response_status!: number | null;

  /**
   * The first response, sealed with SecretBox: it can hold a secret shown once (an API key,
   * a webhook secret), so it is encrypted at rest like every other secret.
   */
  @Column({ type: 'text', nullable: true })
  response_sealed!: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created_at!: Date;

  @Column({ type: 'timestamptz' })
  expires_at!: Date;
}
