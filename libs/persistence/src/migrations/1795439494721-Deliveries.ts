import { MigrationInterface, QueryRunner } from 'typeorm';

export class Deliveries1795439494721 implements MigrationInterface {
  name = 'Deliveries1795439494721';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "deliveries" ("delivery_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "app_id" character varying(128), "webhook_id" character varying(40) NOT NULL, "event_seq" bigint, "event_id" character varying(100) NOT NULL, "event_type" character varying(200) NOT NULL, "payload" jsonb, "status" character varying(16) NOT NULL, "origin" character varying(16) NOT NULL, "retry_of" character varying(40), "replay_id" character varying(40), "job_id" character varying(64), "attempt_count" integer NOT NULL DEFAULT '0', "next_attempt_at" TIMESTAMP WITH TIME ZONE, "last_attempt_at" TIMESTAMP WITH TIME ZONE, "last_status_code" integer, "last_error_kind" character varying(16), "last_error" text, "last_duration_ms" integer, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "pk_deliveries" PRIMARY KEY ("delivery_id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_deliveries_webhook_event" ON "deliveries"  ("webhook_id", "event_seq") WHERE event_seq IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_deliveries_replay" ON "deliveries"  ("replay_id") WHERE replay_id IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_deliveries_finished" ON "deliveries"  ("finished_at") WHERE finished_at IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_deliveries_due" ON "deliveries"  ("next_attempt_at") WHERE status IN ('pending', 'retrying', 'in_flight')`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_deliveries_webhook_created" ON "deliveries"  ("webhook_id", "created_at") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_deliveries_org_webhook_id" ON "deliveries"  ("orgcode", "webhook_id", "delivery_id") `,
    );
    await queryRunner.query(`CREATE INDEX "ix_deliveries_org_id" ON "deliveries"  ("orgcode", "delivery_id") `);
    await queryRunner.query(
      `CREATE TABLE "delivery_attempts" ("attempt_id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "delivery_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "webhook_id" character varying(40) NOT NULL, "attempt_no" integer NOT NULL, "started_at" TIMESTAMP WITH TIME ZONE NOT NULL, "duration_ms" integer NOT NULL, "status_code" integer, "error_kind" character varying(16), "error" text, "response_headers" jsonb NOT NULL, "response_excerpt" text NOT NULL, "outcome" character varying(16) NOT NULL, CONSTRAINT "pk_delivery_attempts" PRIMARY KEY ("attempt_id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_delivery_attempts_webhook_started" ON "delivery_attempts"  ("webhook_id", "started_at") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_delivery_attempts_delivery" ON "delivery_attempts"  ("delivery_id", "attempt_no") `,
    );
    await queryRunner.query(
      `CREATE TABLE "webhook_replays" ("replay_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "webhook_id" character varying(40) NOT NULL, "window_after" TIMESTAMP WITH TIME ZONE, "window_before" TIMESTAMP WITH TIME ZONE, "only_failed" boolean NOT NULL DEFAULT false, "status" character varying(16) NOT NULL, "cursor" bigint, "events_matched" integer NOT NULL DEFAULT '0', "error" text, "created_by" character varying(200) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "pk_webhook_replays" PRIMARY KEY ("replay_id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhook_replays_open" ON "webhook_replays"  ("updated_at") WHERE status IN ('queued', 'running')`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhook_replays_org_webhook" ON "webhook_replays"  ("orgcode", "webhook_id", "replay_id") `,
    );
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "verified_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "verification_status" character varying(500)`);
    await queryRunner.query(
      `ALTER TABLE "delivery_attempts" ADD CONSTRAINT "fk_delivery_attempts_delivery" FOREIGN KEY ("delivery_id") REFERENCES "deliveries"("delivery_id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "delivery_attempts" DROP CONSTRAINT "fk_delivery_attempts_delivery"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "verification_status"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "verified_at"`);
    await queryRunner.query(`DROP INDEX "public"."ix_webhook_replays_org_webhook"`);
    await queryRunner.query(`DROP INDEX "public"."ix_webhook_replays_open"`);
    await queryRunner.query(`DROP TABLE "webhook_replays"`);
    await queryRunner.query(`DROP INDEX "public"."ix_delivery_attempts_delivery"`);
    await queryRunner.query(`DROP INDEX "public"."ix_delivery_attempts_webhook_started"`);
    await queryRunner.query(`DROP TABLE "delivery_attempts"`);
    await queryRunner.query(`DROP INDEX "public"."ix_deliveries_org_id"`);
    await queryRunner.query(`DROP INDEX "public"."ix_deliveries_org_webhook_id"`);
    await queryRunner.query(`DROP INDEX "public"."ix_deliveries_webhook_created"`);
    await queryRunner.query(`DROP INDEX "public"."ix_deliveries_due"`);
    await queryRunner.query(`DROP INDEX "public"."ix_deliveries_finished"`);
    await queryRunner.query(`DROP INDEX "public"."ix_deliveries_replay"`);
    await queryRunner.query(`DROP INDEX "public"."ix_deliveries_webhook_event"`);
    await queryRunner.query(`DROP TABLE "deliveries"`);
  }
}
