import { MigrationInterface, QueryRunner } from 'typeorm';

export class Webhooks1795435359061 implements MigrationInterface {
  name = 'Webhooks1795435359061';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "webhooks" ("webhook_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "app_id" character varying(128), "name" character varying(200) NOT NULL DEFAULT '', "description" text, "endpoint_url" character varying(2048) NOT NULL, "status" character varying(16) NOT NULL, "event_filters" jsonb NOT NULL, "headers" jsonb NOT NULL, "retry_policy" jsonb NOT NULL, "signing_algorithm" character varying(32) NOT NULL, "secret_sealed" text NOT NULL, "secret_key_id" character varying(16) NOT NULL, "secret_last4" character varying(4) NOT NULL, "secret_fingerprint" character(16) NOT NULL, "previous_secret_sealed" text, "previous_secret_expires_at" TIMESTAMP WITH TIME ZONE, "tags" text array NOT NULL DEFAULT '{}', "consecutive_failures" integer NOT NULL DEFAULT '0', "paused_at" TIMESTAMP WITH TIME ZONE, "last_delivery_at" TIMESTAMP WITH TIME ZONE, "last_delivery_status" character varying(32), "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_by" character varying(200) NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_by" character varying(200) NOT NULL, "revision" integer NOT NULL, "is_deleted" boolean NOT NULL DEFAULT false, "deleted_at" TIMESTAMP WITH TIME ZONE, "deleted_by" character varying(200), CONSTRAINT "pk_webhooks" PRIMARY KEY ("webhook_id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhooks_org_app" ON "webhooks"  ("orgcode", "app_id", "webhook_id") WHERE is_deleted = false AND app_id IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhooks_org_status" ON "webhooks"  ("orgcode", "status", "webhook_id") WHERE is_deleted = false`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhooks_org_name" ON "webhooks"  ("orgcode", "name", "webhook_id") WHERE is_deleted = false`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhooks_org_id" ON "webhooks"  ("orgcode", "webhook_id") WHERE is_deleted = false`,
    );
    // By hand: TypeORM cannot declare a GIN index (the entity marks it synchronize: false).
    await queryRunner.query(
      `CREATE INDEX "ix_webhooks_tags" ON "webhooks" USING gin ("tags") WHERE is_deleted = false`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_webhooks_tags"`);
    await queryRunner.query(`DROP INDEX "public"."ix_webhooks_org_id"`);
    await queryRunner.query(`DROP INDEX "public"."ix_webhooks_org_name"`);
    await queryRunner.query(`DROP INDEX "public"."ix_webhooks_org_status"`);
    await queryRunner.query(`DROP INDEX "public"."ix_webhooks_org_app"`);
    await queryRunner.query(`DROP TABLE "webhooks"`);
  }
}
