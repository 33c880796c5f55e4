import { MigrationInterface, QueryRunner } from 'typeorm';

export class ApiKeyParents1795470000000 implements MigrationInterface {
  name = 'ApiKeyParents1795470000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "api_keys" ADD "parent_key_id" character varying(40)`);
    // Keys made by a key so far: their created_by is that key's id, in the same tenant.
    await queryRunner.query(
      `UPDATE "api_keys" AS k SET "parent_key_id" = p."key_id" FROM "api_keys" AS p
        WHERE p."key_id" = k."created_by" AND p."orgcode" = k."orgcode"`,
    );
    await queryRunner.query(`CREATE INDEX "ix_api_keys_parent" ON "api_keys" ("orgcode", "parent_key_id") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_api_keys_parent"`);
    await queryRunner.query(`ALTER TABLE "api_keys" DROP COLUMN "parent_key_id"`);
  }
}
