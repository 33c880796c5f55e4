import { MigrationInterface, QueryRunner } from 'typeorm';

export class BulkJobs1795446246447 implements MigrationInterface {
  name = 'BulkJobs1795446246447';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "bulk_jobs" ("created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_by" character varying(200) NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_by" character varying(200) NOT NULL, "revision" integer NOT NULL, "job_id" character varying(40) NOT NULL, "orgcode" character varying(64) NOT NULL, "app_id" character varying(128), "job_type" character varying(8) NOT NULL, "target" character varying(16) NOT NULL, "format" character varying(8) NOT NULL, "options" jsonb NOT NULL, "status" character varying(24) NOT NULL, "total_lines" integer, "processed" integer NOT NULL DEFAULT '0', "succeeded" integer NOT NULL DEFAULT '0', "failed" integer NOT NULL DEFAULT '0', "last_processed_line" integer NOT NULL DEFAULT '0', "cursor" text, "upload_bytes" bigint NOT NULL DEFAULT '0', "upload_token_id" character varying(40), "error" text, "started_at" TIMESTAMP WITH TIME ZONE, "finished_at" TIMESTAMP WITH TIME ZONE, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "pk_bulk_jobs" PRIMARY KEY ("job_id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_bulk_jobs_expiry" ON "bulk_jobs"  ("expires_at") WHERE status <> 'expired'`,
    );
    await queryRunner.query(`CREATE INDEX "ix_bulk_jobs_org_status" ON "bulk_jobs"  ("orgcode", "status", "job_id") `);
    await queryRunner.query(`CREATE INDEX "ix_bulk_jobs_org_id" ON "bulk_jobs"  ("orgcode", "job_id") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_bulk_jobs_org_id"`);
    await queryRunner.query(`DROP INDEX "public"."ix_bulk_jobs_org_status"`);
    await queryRunner.query(`DROP INDEX "public"."ix_bulk_jobs_expiry"`);
    await queryRunner.query(`DROP TABLE "bulk_jobs"`);
  }
}
