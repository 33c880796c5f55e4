import { MigrationInterface, QueryRunner } from 'typeorm';

export class KpiAlerts1795453824254 implements MigrationInterface {
  name = 'KpiAlerts1795453824254';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "kpi_alerts" ("created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_by" character varying(200) NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_by" character varying(200) NOT NULL, "revision" integer NOT NULL, "alert_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "app_id" character varying(128), "kpi_code" character varying(100) NOT NULL, "scope" character varying(128) NOT NULL DEFAULT 'org', "bucket" character varying(8) NOT NULL, "bucket_start" TIMESTAMP WITH TIME ZONE NOT NULL, "bucket_end" TIMESTAMP WITH TIME ZONE NOT NULL, "comparator" character varying(3) NOT NULL, "threshold" double precision NOT NULL, "value" double precision NOT NULL, "breached" boolean NOT NULL, "state" character varying(16) NOT NULL, "evaluated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "last_notified_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "pk_kpi_alerts" PRIMARY KEY ("alert_id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_kpi_alerts_key" ON "kpi_alerts"  ("orgcode", "kpi_code", "scope", "bucket", "bucket_start", "comparator", "threshold") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."uq_kpi_alerts_key"`);
    await queryRunner.query(`DROP TABLE "kpi_alerts"`);
  }
}
