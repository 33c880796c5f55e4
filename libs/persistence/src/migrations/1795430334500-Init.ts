import { MigrationInterface, QueryRunner } from 'typeorm';

export class Init1795430334500 implements MigrationInterface {
  name = 'Init1795430334500';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "idempotency_keys" ("orgcode" character varying(64) NOT NULL, "idempotency_key" character varying(255) NOT NULL, "call" character varying(200) NOT NULL, "request_hash" character(64) NOT NULL, "state" character varying(16) NOT NULL, "response_status" integer, "response_sealed" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_1e31566394b1e45cfec46bc941e" PRIMARY KEY ("orgcode", "idempotency_key"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_idempotency_expires" ON "idempotency_keys"  ("expires_at") `);
    await queryRunner.query(
      `CREATE TABLE "api_keys" ("key_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "app_id" character varying(128), "name" character varying(200) NOT NULL, "prefix" character varying(16) NOT NULL, "key_hash" character(64) NOT NULL, "permissions" text array NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "created_by" character varying(200) NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE, "last_used_at" TIMESTAMP WITH TIME ZONE, "revoked_at" TIMESTAMP WITH TIME ZONE, "revoked_by" character varying(200), CONSTRAINT "PK_587c54d5d82b3dfbfb59a81cb42" PRIMARY KEY ("key_id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "ux_api_keys_hash" ON "api_keys"  ("key_hash") `);
    await queryRunner.query(`CREATE INDEX "ix_api_keys_org" ON "api_keys"  ("orgcode", "key_id") `);
    await queryRunner.query(
      `CREATE TABLE "audit_log" ("audit_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "actor_type" character varying(16) NOT NULL, "actor_id" character varying(200) NOT NULL, "app_id" character varying(128), "action" character varying(100) NOT NULL, "target_type" character varying(40), "target_id" character varying(200), "reason" text, "source_refs" jsonb NOT NULL, "request_context" jsonb, "metadata" jsonb, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_90d705dc65e834a7bfc79ea4df0" PRIMARY KEY ("audit_id"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_audit_org_target" ON "audit_log"  ("orgcode", "target_id", "audit_id") `);
    await queryRunner.query(`CREATE INDEX "ix_audit_org_action" ON "audit_log"  ("orgcode", "action", "audit_id") `);
    await queryRunner.query(`CREATE INDEX "ix_audit_org" ON "audit_log"  ("orgcode", "audit_id") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_audit_org"`);
    await queryRunner.query(`DROP INDEX "public"."ix_audit_org_action"`);
    await queryRunner.query(`DROP INDEX "public"."ix_audit_org_target"`);
    await queryRunner.query(`DROP TABLE "audit_log"`);
    await queryRunner.query(`DROP INDEX "public"."ix_api_keys_org"`);
    await queryRunner.query(`DROP INDEX "public"."ux_api_keys_hash"`);
    await queryRunner.query(`DROP TABLE "api_keys"`);
    await queryRunner.query(`DROP INDEX "public"."ix_idempotency_expires"`);
    await queryRunner.query(`DROP TABLE "idempotency_keys"`);
  }
}
