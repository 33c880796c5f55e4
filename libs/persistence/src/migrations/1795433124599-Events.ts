import { MigrationInterface, QueryRunner } from 'typeorm';

export class Events1795433124599 implements MigrationInterface {
  name = 'Events1795433124599';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "events" ("seq" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "tx_id" bigint NOT NULL DEFAULT txid_current(), "event_id" character varying(100) NOT NULL, "orgcode" character varying(64) NOT NULL, "app_id" character varying(128), "event_type" character varying(200) NOT NULL, "service" character varying(64) NOT NULL, "action" character varying(135) NOT NULL, "payload" jsonb NOT NULL, "logical_guid" character varying(200), "channel_code" character varying(100), "source" character varying(16) NOT NULL, "actor" character varying(200) NOT NULL, "occurred_at" TIMESTAMP WITH TIME ZONE NOT NULL, "received_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "uq_events_org_event_id" UNIQUE ("orgcode", "event_id"), CONSTRAINT "pk_events" PRIMARY KEY ("seq"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_events_org_received" ON "events"  ("orgcode", "received_at") `);
    await queryRunner.query(
      `CREATE INDEX "ix_events_org_app_tx_seq" ON "events"  ("orgcode", "app_id", "tx_id", "seq") WHERE app_id IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_events_org_channel_tx_seq" ON "events"  ("orgcode", "channel_code", "tx_id", "seq") WHERE channel_code IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_events_org_guid_tx_seq" ON "events"  ("orgcode", "logical_guid", "tx_id", "seq") WHERE logical_guid IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_events_org_service_tx_seq" ON "events"  ("orgcode", "service", "tx_id", "seq") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_events_org_type_tx_seq" ON "events"  ("orgcode", "event_type", "tx_id", "seq") `,
    );
    await queryRunner.query(`CREATE INDEX "ix_events_org_tx_seq" ON "events"  ("orgcode", "tx_id", "seq") `);
    await queryRunner.query(
      `CREATE TABLE "event_outbox" ("seq" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "event_seq" bigint NOT NULL, "orgcode" character varying(64) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "processed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "pk_event_outbox" PRIMARY KEY ("seq"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_event_outbox_event" ON "event_outbox"  ("event_seq") `);
    await queryRunner.query(
      `CREATE INDEX "ix_event_outbox_pending" ON "event_outbox"  ("seq") WHERE processed_at IS NULL`,
    );
    await queryRunner.query(
      `ALTER TABLE "event_outbox" ADD CONSTRAINT "fk_event_outbox_event" FOREIGN KEY ("event_seq") REFERENCES "events"("seq") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "event_outbox" DROP CONSTRAINT "fk_event_outbox_event"`);
    await queryRunner.query(`DROP INDEX "public"."ix_event_outbox_pending"`);
    await queryRunner.query(`DROP INDEX "public"."ix_event_outbox_event"`);
    await queryRunner.query(`DROP TABLE "event_outbox"`);
    await queryRunner.query(`DROP INDEX "public"."ix_events_org_tx_seq"`);
    await queryRunner.query(`DROP INDEX "public"."ix_events_org_type_tx_seq"`);
    await queryRunner.query(`DROP INDEX "public"."ix_events_org_service_tx_seq"`);
    await queryRunner.query(`DROP INDEX "public"."ix_events_org_guid_tx_seq"`);
    await queryRunner.query(`DROP INDEX "public"."ix_events_org_channel_tx_seq"`);
    await queryRunner.query(`DROP INDEX "public"."ix_events_org_app_tx_seq"`);
    await queryRunner.query(`DROP INDEX "public"."ix_events_org_received"`);
    await queryRunner.query(`DROP TABLE "events"`);
  }
}
