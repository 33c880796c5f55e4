import { MigrationInterface, QueryRunner } from 'typeorm';

export class WebhookDeliveryHourDurations1795459437096 implements MigrationInterface {
  name = 'WebhookDeliveryHourDurations1795459437096';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // The rows are a cache that stats reads refill lazily: the existing ones have no histogram to give.
    await queryRunner.query(`DELETE FROM "webhook_delivery_hours"`);
    await queryRunner.query(`ALTER TABLE "webhook_delivery_hours" ADD "attempts" integer NOT NULL`);
    await queryRunner.query(`ALTER TABLE "webhook_delivery_hours" ADD "durations" integer array NOT NULL`);
    await queryRunner.query(`ALTER TABLE "webhook_delivery_hours" ADD "duration_counts" integer array NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "webhook_delivery_hours" DROP COLUMN "duration_counts"`);
    await queryRunner.query(`ALTER TABLE "webhook_delivery_hours" DROP COLUMN "durations"`);
    await queryRunner.query(`ALTER TABLE "webhook_delivery_hours" DROP COLUMN "attempts"`);
  }
}
