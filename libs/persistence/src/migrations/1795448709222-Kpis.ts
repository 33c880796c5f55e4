import { MigrationInterface, QueryRunner } from 'typeorm';

export class Kpis1795448709222 implements MigrationInterface {
  name = 'Kpis1795448709222';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "kpi_snapshots" ("created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_by" character varying(200) NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_by" character varying(200) NOT NULL, "revision" integer NOT NULL, "kpi_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "app_id" character varying(128), "kpi_code" character varying(100) NOT NULL, "scope" character varying(128) NOT NULL DEFAULT 'org', "bucket" character varying(8) NOT NULL, "bucket_start" TIMESTAMP WITH TIME ZONE NOT NULL, "bucket_end" TIMESTAMP WITH TIME ZONE NOT NULL, "value" double precision NOT NULL, CONSTRAINT "pk_kpi_snapshots" PRIMARY KEY ("kpi_id"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_kpi_snapshots_org_id" ON "kpi_snapshots"  ("orgcode", "kpi_id") `);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_kpi_snapshots_key" ON "kpi_snapshots"  ("orgcode", "kpi_code", "bucket", "scope", "bucket_start") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."uq_kpi_snapshots_key"`);
    await queryRunner.query(`DROP INDEX "public"."ix_kpi_snapshots_org_id"`);
    await queryRunner.query(`DROP TABLE "kpi_snapshots"`);
  }
}
