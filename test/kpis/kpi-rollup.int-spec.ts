import { getQueueToken } from '@nestjs/bullmq';
import { Test, TestingModule } from '@nestjs/testing';
import type { Queue } from 'bullmq';
import { DataSource, In } from 'typeorm';
import { AppConfigModule, IdPrefix, isId, newId } from '@ipm/core';
import type { DeliveryStatus } from '@ipm/lifecycle';
import { PersistenceModule } from '@ipm/persistence';
import { QueueName, QueuesModule } from '@ipm/queues';
import { KpiSnapshotEntity } from '@ipm/kpis';
import { toKpiDto } from '@ipm/kpis';
import { KpisWorkerModule } from '@ipm/kpis';
import { KPI_ROLLUP_ACTOR, KpiRollup, PLATFORM_KPI, rollupHours } from '@ipm/kpis';
import { uniqueOrg } from '../support/api';
import { insertDelivery } from '../support/deliveries';

// `maintenance.kpi_rollup` against the real PostgreSQL: the handler is called directly, on hours of
// 2020 that no other spec file writes deliveries in; every assertion looks at this file's tenants only.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:kpirollup`;

const HOUR = 3_600_000;
const at = (iso: string) => new Date(iso);
const CODES = Object.values(PLATFORM_KPI);

interface Finished {
  orgcode: string;
  status: DeliveryStatus;
  finished_at: Date;
  /** The last attempt's duration; null: none (e.g. blocked before sending). */
  duration_ms: number | null;
}

/** A delivery that ended at `finished_at` (insertDelivery, then the finish and duration set). */
async function insertFinished(db: DataSource, f: Finished): Promise<string> {
  const id = await insertDelivery(db, {
    orgcode: f.orgcode,
    webhook_id: newId(IdPrefix.Webhook),
    status: f.status,
    created_at: new Date(f.finished_at.getTime() - 5 * 60_000),
  });
  await db.query(`UPDATE deliveries SET finished_at = $2, last_duration_ms = $3 WHERE delivery_id = $1`, [
    id,
    f.finished_at,
    f.duration_ms,
  ]);
  return id;
}

type Figures = Partial<Record<(typeof CODES)[number], number>>;

describe('platform delivery KPIs (maintenance.kpi_rollup)', () => {
  let moduleRef: TestingModule;
  let db: DataSource;
  let rollup: KpiRollup;

  beforeAll(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [AppConfigModule, PersistenceModule, QueuesModule, KpisWorkerModule],
    }).compile();
    await moduleRef.init();
    db = moduleRef.get(DataSource);
    rollup = moduleRef.get(KpiRollup);
  });

  afterAll(async () => {
    await moduleRef?.close();
  });

  const snapshots = (orgcode: string | string[]) =>
    db.getRepository(KpiSnapshotEntity).find({
      where: { orgcode: In([orgcode].flat()), bucket: 'hourly' },
      order: { orgcode: 'ASC', bucket_start: 'ASC', kpi_code: 'ASC' },
    });

  /** A tenant's figures in one hour, by kpi_code. */
  async function figures(orgcode: string, hour: Date): Promise<Figures> {
    const rows = await db.getRepository(KpiSnapshotEntity).findBy({ orgcode, bucket: 'hourly', bucket_start: hour });
    return Object.fromEntries(rows.map((r) => [r.kpi_code, r.value]));
  }

  it('declares its hourly schedule (minute 5, UTC) on the maintenance queue at start', async () => {
    const queue = moduleRef.get<Queue>(getQueueToken(QueueName.Maintenance), { strict: false });
    expect(await queue.getJobSchedulers()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          key: 'maintenance.kpi_rollup',
          name: 'maintenance.kpi_rollup',
          pattern: '5 * * * *',
          tz: 'UTC',
        }),
      ]),
    );
  });

  it('a run rolls the last complete hour and the 2 before it', () => {
    expect(rollupHours(at('2026-03-01T10:05:00Z'))).toEqual([
      at('2026-03-01T07:00:00Z'),
      at('2026-03-01T08:00:00Z'),
      at('2026-03-01T09:00:00Z'),
    ]);
    // Right on the hour: the hour that just ended is complete.
    expect(rollupHours(at('2026-03-01T00:00:00Z'))).toEqual([
      at('2026-02-28T21:00:00Z'),
      at('2026-02-28T22:00:00Z'),
      at('2026-02-28T23:00:00Z'),
    ]);
  });

  describe('two tenants, two hours', () => {
    const h1 = at('2020-03-02T10:00:00Z');
    const h2 = at('2020-03-02T11:00:00Z');
    const a = uniqueOrg('rollupa');
    const b = uniqueOrg('rollupb');
    const mins = (h: Date, m: number) => new Date(h.getTime() + m * 60_000);

    beforeAll(async () => {
      const rows: Finished[] = [
        // a, h1: 3 success, 1 failed, 1 dead_letter; durations 100..500 → p95 = 400 + 0.8 × 100 = 480.
        { orgcode: a, status: 'success', finished_at: h1, duration_ms: 300 }, // at the hour's first instant
        { orgcode: a, status: 'success', finished_at: mins(h1, 10), duration_ms: 100 },
        { orgcode: a, status: 'failed', finished_at: mins(h1, 20), duration_ms: 500 },
        { orgcode: a, status: 'dead_letter', finished_at: mins(h1, 30), duration_ms: 200 },
        { orgcode: a, status: 'success', finished_at: new Date(h2.getTime() - 1), duration_ms: 400 }, // its last ms
        // a, h2: 2 success, 10 and 20 ms → p95 = 10 + 0.95 × 10 = 19.5.
        { orgcode: a, status: 'success', finished_at: h2, duration_ms: 20 }, // h1's end is h2's start
        { orgcode: a, status: 'success', finished_at: mins(h2, 59), duration_ms: 10 },
        // a, outside both hours: not counted.
        { orgcode: a, status: 'failed', finished_at: new Date(h1.getTime() - 1), duration_ms: 9_999 },
        { orgcode: a, status: 'failed', finished_at: mins(h2, 60), duration_ms: 9_999 },
        // b, h1: a failure with a duration and a dead letter without one (left out of p95 only).
        { orgcode: b, status: 'failed', finished_at: mins(h1, 5), duration_ms: 1000 },
        { orgcode: b, status: 'dead_letter', finished_at: mins(h1, 6), duration_ms: null },
        // b, h2: no duration at all → no p95 snapshot.
        { orgcode: b, status: 'success', finished_at: mins(h2, 1), duration_ms: null },
      ];
      for (const row of rows) await insertFinished(db, row);
      // Not terminal: never counted, even with a finished_at in the hour.
      for (const status of ['pending', 'in_flight', 'retrying'] as const) {
        const id = await insertDelivery(db, {
          orgcode: a,
          webhook_id: newId(IdPrefix.Webhook),
          status,
          created_at: mins(h1, 1),
        });
        await db.query(`UPDATE deliveries SET finished_at = $2, last_duration_ms = 7 WHERE delivery_id = $1`, [
          id,
          mins(h1, 2),
        ]);
      }
    });

    it('matches the known deliveries: totals, failed, success rate and p95 per tenant and hour', async () => {
      const results = await rollup.rollHours([h1, h2]);
      expect(results.map((r) => r.hour)).toEqual([h1.toISOString(), h2.toISOString()]);

      const a1 = await figures(a, h1);
      expect(a1).toEqual({
        [PLATFORM_KPI.total]: 5,
        [PLATFORM_KPI.failed]: 2,
        [PLATFORM_KPI.successRate]: 0.6,
        [PLATFORM_KPI.latencyP95]: expect.any(Number),
      });
      expect(a1[PLATFORM_KPI.latencyP95]).toBeCloseTo(480, 9);

      const a2 = await figures(a, h2);
      expect(a2).toEqual({
        [PLATFORM_KPI.total]: 2,
        [PLATFORM_KPI.failed]: 0,
        [PLATFORM_KPI.successRate]: 1,
        [PLATFORM_KPI.latencyP95]: expect.any(Number),
      });
      expect(a2[PLATFORM_KPI.latencyP95]).toBeCloseTo(19.5, 9);

      expect(await figures(b, h1)).toEqual({
        [PLATFORM_KPI.total]: 2,
        [PLATFORM_KPI.failed]: 2,
        [PLATFORM_KPI.successRate]: 0,
        [PLATFORM_KPI.latencyP95]: 1000,
      });
      expect(await figures(b, h2)).toEqual({
        [PLATFORM_KPI.total]: 1,
        [PLATFORM_KPI.failed]: 0,
        [PLATFORM_KPI.successRate]: 1,
      });
    });

    it('writes snapshots like any KPI: org scope, hourly bucket, no app, kpi_ ids, revision 1', async () => {
      const rows = await snapshots([a, b]);
      expect(rows).toHaveLength(4 + 4 + 4 + 3);
      for (const row of rows) {
        expect(row).toMatchObject({
          scope: 'org',
          bucket: 'hourly',
          app_id: null,
          revision: 1,
          created_by: KPI_ROLLUP_ACTOR,
          updated_by: KPI_ROLLUP_ACTOR,
        });
        expect(isId(IdPrefix.Kpi, row.kpi_id)).toBe(true);
        expect(row.bucket_end.getTime() - row.bucket_start.getTime()).toBe(HOUR);
        expect(CODES).toContain(row.kpi_code);
      }
      expect(new Set(rows.map((r) => r.kpi_id)).size).toBe(rows.length);
      // The API's view of one (what /kpi/query and the kpis export return).
      const dto = toKpiDto(rows.find((r) => r.orgcode === a && r.kpi_code === PLATFORM_KPI.total)!);
      expect(dto).toMatchObject({
        orgcode: a,
        kpi_code: 'ipm.deliveries.total',
        scope: 'org',
        bucket: 'hourly',
        bucket_start: '2020-03-02T10:00:00.000Z',
        bucket_end: '2020-03-02T11:00:00.000Z',
        value: 5,
        revision: expect.any(String),
      });
      // Hours without finished deliveries write nothing.
      expect(rows.map((r) => r.bucket_start.toISOString())).not.toContain('2020-03-02T09:00:00.000Z');
      expect(rows.map((r) => r.bucket_start.toISOString())).not.toContain('2020-03-02T12:00:00.000Z');
    });

    it('is idempotent: a re-run gives the same values and revisions, and reports nothing written', async () => {
      const before = await snapshots([a, b]);
      const again = await rollup.rollHours([h1, h2]);
      for (const r of again) expect(r).toMatchObject({ created: 0, updated: 0 });
      const after = await snapshots([a, b]);
      expect(after.map((r) => [r.kpi_id, r.kpi_code, r.value, r.revision, r.updated_at.getTime()])).toEqual(
        before.map((r) => [r.kpi_id, r.kpi_code, r.value, r.revision, r.updated_at.getTime()]),
      );
    });

    it('the handler rolls only the given hour, and refuses an hour that is not on the hour', async () => {
      const [only] = await rollup.run({ hour: '2020-03-02T11:00:00Z' });
      expect(only).toMatchObject({ hour: h2.toISOString(), created: 0, updated: 0 });
      expect(only.tenants).toBeGreaterThanOrEqual(2);
      await expect(rollup.run({ hour: '2020-03-02T11:30:00Z' })).rejects.toThrow(/not the start of an hourly bucket/);
      await expect(rollup.run({ hour: 'yesterday' })).rejects.toThrow(/ISO 8601/);
    });

    it("never mixes another tenant's figures in", async () => {
      const c = uniqueOrg('rollupc');
      await insertFinished(db, { orgcode: c, status: 'failed', finished_at: mins(h1, 40), duration_ms: 50_000 });
      await rollup.rollHours([h1]);
      expect(await figures(c, h1)).toEqual({
        [PLATFORM_KPI.total]: 1,
        [PLATFORM_KPI.failed]: 1,
        [PLATFORM_KPI.successRate]: 0,
        [PLATFORM_KPI.latencyP95]: 50_000,
      });
      // a's and b's hour is unchanged: same values, still revision 1.
      expect((await figures(a, h1))[PLATFORM_KPI.total]).toBe(5);
      expect((await figures(b, h1))[PLATFORM_KPI.latencyP95]).toBe(1000);
      expect((await snapshots([a, b])).every((r) => r.revision === 1)).toBe(true);
      expect(await snapshots(uniqueOrg('rollupnone'))).toEqual([]);
    });
  });

  it('a late finish in a past hour is picked up by the re-roll of a later run', async () => {
    const org = uniqueOrg('rolluplate');
    const h = at('2020-05-04T06:00:00Z');
    const runAt = (iso: string) => rollup.rollHours(rollupHours(at(iso)));
    await insertFinished(db, {
      orgcode: org,
      status: 'success',
      finished_at: new Date(h.getTime() + 60_000),
      duration_ms: 80,
    });

    await runAt('2020-05-04T07:05:00Z'); // rolls 04:00, 05:00, 06:00
    expect(await figures(org, h)).toMatchObject({ [PLATFORM_KPI.total]: 1, [PLATFORM_KPI.successRate]: 1 });

    // A retry that ended in the 06:00 hour, written after that hour was first rolled.
    await insertFinished(db, {
      orgcode: org,
      status: 'dead_letter',
      finished_at: new Date(h.getTime() + 50 * 60_000),
      duration_ms: 120,
    });
    await runAt('2020-05-04T08:05:00Z'); // rolls 05:00, 06:00 (again), 07:00
    const late = await figures(org, h);
    expect(late).toEqual({
      [PLATFORM_KPI.total]: 2,
      [PLATFORM_KPI.failed]: 1,
      [PLATFORM_KPI.successRate]: 0.5,
      [PLATFORM_KPI.latencyP95]: expect.any(Number),
    });
    expect(late[PLATFORM_KPI.latencyP95]).toBeCloseTo(80 + 0.95 * 40, 9);
    const rows = await snapshots(org);
    // Every figure changed, so each went to revision 2, by the roll-up.
    expect(rows.map((r) => [r.kpi_code, r.revision, r.updated_by])).toEqual(
      [...CODES].sort().map((code) => [code, 2, KPI_ROLLUP_ACTOR]),
    );

    // Past the window (06:00 is no longer among the 3 hours): a later finish there is not rolled.
    await insertFinished(db, {
      orgcode: org,
      status: 'failed',
      finished_at: new Date(h.getTime() + 55 * 60_000),
      duration_ms: 1,
    });
    await runAt('2020-05-04T10:05:00Z'); // rolls 07:00, 08:00, 09:00
    expect((await figures(org, h))[PLATFORM_KPI.total]).toBe(2);
  });
});
