import { MigrationInterface, QueryRunner } from 'typeorm';

export class BulkParts1795445933923 implements MigrationInterface {
  name = 'BulkParts1795445933923';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "bulk_parts" ("orgcode" character varying(64) NOT NULL, "job_id" character varying(40) NOT NULL, "kind" character varying(16) NOT NULL, "part_no" integer NOT NULL, "data" bytea NOT NULL, "bytes" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "pk_bulk_parts" PRIMARY KEY ("job_id", "kind", "part_no"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_bulk_parts_created" ON "bulk_parts"  ("created_at") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_bulk_parts_created"`);
    await queryRunner.query(`DROP TABLE "bulk_parts"`);
  }
}
