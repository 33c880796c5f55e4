import { MigrationInterface, QueryRunner } from 'typeorm';

export class Catalog1795432905127 implements MigrationInterface {
  name = 'Catalog1795432905127';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "event_types" ("orgcode" character varying(64) NOT NULL, "event_type" character varying(200) NOT NULL, "service" character varying(64) NOT NULL, "action" character varying(135) NOT NULL, "version" integer NOT NULL, "description" text NOT NULL, "schema" jsonb NOT NULL, "specimen" jsonb NOT NULL, "deprecated_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_by" character varying(200) NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_by" character varying(200) NOT NULL, "revision" integer NOT NULL, CONSTRAINT "PK_2aa133f4b25f18f6ebb6a88ff06" PRIMARY KEY ("orgcode", "event_type"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_event_types_org_service" ON "event_types"  ("orgcode", "service", "event_type") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_event_types_org_service"`);
    await queryRunner.query(`DROP TABLE "event_types"`);
  }
}
