import { MigrationInterface, QueryRunner } from 'typeorm';

export class WebhookDeliveryHours1795458384694 implements MigrationInterface {
  name = 'WebhookDeliveryHours1795458384694';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "webhook_delivery_hours" ("webhook_id" character varying(40) NOT NULL, "hour" TIMESTAMP WITH TIME ZONE NOT NULL, "orgcode" character varying(64) NOT NULL, "success" integer NOT NULL, "failed" integer NOT NULL, "dead_letter" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_webhook_delivery_hours" PRIMARY KEY ("webhook_id", "hour"))`,
    );
    // By hand (the entities mark them synchronize: false): TypeORM cannot declare INCLUDE.
    // What /webhook/stats counts live in rolled-up hours; the predicate must match the repository's.
    await queryRunner.query(
      `CREATE INDEX "ix_deliveries_webhook_unsettled" ON "deliveries" ("webhook_id", "created_at") INCLUDE ("status", "orgcode")
       WHERE status NOT IN ('success', 'failed', 'dead_letter') OR finished_at IS NULL
          OR finished_at - created_at >= interval '1 hour'`,
    );
    // Covering, so that the stats latencies read the index only.
    await queryRunner.query(`DROP INDEX "public"."ix_delivery_attempts_webhook_started"`);
    await queryRunner.query(
      `CREATE INDEX "ix_delivery_attempts_webhook_started" ON "delivery_attempts" ("webhook_id", "started_at") INCLUDE ("duration_ms", "orgcode")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_delivery_attempts_webhook_started"`);
    await queryRunner.query(
      `CREATE INDEX "ix_delivery_attempts_webhook_started" ON "delivery_attempts" ("webhook_id", "started_at") `,
    );
    await queryRunner.query(`DROP INDEX "public"."ix_deliveries_webhook_unsettled"`);
    await queryRunner.query(`DROP TABLE "webhook_delivery_hours"`);
  }
}
