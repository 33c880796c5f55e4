import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { UnrecoverableError } from 'bullmq';
import type { DataSource } from 'typeorm';
import { AppConfig, IdPrefix, newId } from '@ipm/core';
import { DeliveryMachine, type DeliveryStatus, sqlStates, terminalStates } from '@ipm/lifecycle';
import { acrossTenants } from '@ipm/persistence';
import { JobHandler, JobProducer, type KpiRollupJob } from '@ipm/queues';
import { bucketEndOf, bucketStartOf, misalignment, parseInstant } from '../buckets';
import { DEFAULT_KPI_SCOPE } from '../kpi-record';

/** `created_by` / `updated_by` of the snapshots the roll-up writes. */
export const KPI_ROLLUP_ACTOR = 'ipm-kpi-rollup';

/** The platform KPIs, one hourly snapshot each per tenant. */
export const PLATFORM_KPI = {
  total: 'ipm.deliveries.total',
  failed: 'ipm.deliveries.failed',
  successRate: 'ipm.delivery.success_rate',
  latencyP95: 'ipm.delivery.latency_p95_ms',
} as const;

/** Hours rolled per scheduled run: the last complete one and the ones before it (late finishes). */
export const KPI_ROLLUP_HOURS = 3;

const HOUR_MS = 3_600_000;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export interface HourRollup {
  /** The hour rolled, [hour, hour + 1h), as an ISO instant. */
  hour: string;
  /** Tenants with at least one delivery that finished in that hour. */
  tenants: number;
  /** Snapshots created. */
  created: number;
  /** Existing snapshots whose value changed (their revision went up). */
  updated: number;
}

/** Deliveries whose story ended (the machine's terminal states), those that succeeded, and the rest. */
const FINISHED: readonly DeliveryStatus[] = terminalStates(DeliveryMachine);
const SUCCEEDED: readonly DeliveryStatus[] = DeliveryMachine.transitions
  .filter((t) => t.name === 'succeed')
  .map((t) => t.to);
const FAILED: readonly DeliveryStatus[] = FINISHED.filter((s) => !SUCCEEDED.includes(s));

/**
 * One statement per hour: every tenant's figures (GROUP BY orgcode) from the deliveries that
 * reached a terminal state with `finished_at` in [$1, $2) (a range scan of the partial index
 * ix_deliveries_finished), four rows per tenant, upserted on uq_kpi_snapshots_key. An existing
 * snapshot is only touched when its value differs, so an unchanged re-run bumps no revision.
 * A new snapshot's id is `kpi_` + the ULID time part of this run ($3) + 16 random Crockford
 * base32 characters drawn per row (the subquery refers to the row, so it is not run only once).
 * A p95 is left out when none of the hour's deliveries has a duration. Gives the counts of tenants,
 * snapshots created and snapshots updated.
 */
const ROLLUP_SQL = `
WITH figures AS (
  SELECT d.orgcode,
         count(*)::double precision AS total,
         (count(*) FILTER (WHERE d.status IN (${sqlStates(FAILED)})))::double precision AS failed,
         (count(*) FILTER (WHERE d.status IN (${sqlStates(SUCCEEDED)})))::double precision / count(*) AS success_rate,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY d.last_duration_ms) AS latency_p95
    FROM deliveries d
   WHERE d.finished_at >= $1 AND d.finished_at < $2
     AND d.status IN (${sqlStates(FINISHED)})
   GROUP BY d.orgcode
), snapshots AS (
  SELECT f.orgcode, k.kpi_code, k.value
    FROM figures f
   CROSS JOIN LATERAL (VALUES
     ('${PLATFORM_KPI.total}', f.total),
     ('${PLATFORM_KPI.failed}', f.failed),
     ('${PLATFORM_KPI.successRate}', f.success_rate),
     ('${PLATFORM_KPI.latencyP95}', f.latency_p95)
   ) AS k(kpi_code, value)
   WHERE k.value IS NOT NULL
), upserted AS (
INSERT INTO kpi_snapshots AS s (kpi_id, orgcode, app_id, kpi_code, scope, bucket, bucket_start, bucket_end, value,
  created_at, created_by, updated_at, updated_by, revision)
SELECT $3 || (SELECT string_agg(substr('${CROCKFORD}', 1 + floor(random() * 32)::int, 1), '')
                FROM generate_series(1, 16) WHERE n.kpi_code IS NOT NULL),
       n.orgcode, NULL, n.kpi_code, '${DEFAULT_KPI_SCOPE}', 'hourly', $1, $2, n.value,
       $4, '${KPI_ROLLUP_ACTOR}', $4, '${KPI_ROLLUP_ACTOR}', 1
  FROM snapshots n
 ORDER BY n.orgcode, n.kpi_code
ON CONFLICT (orgcode, kpi_code, bucket, scope, bucket_start) DO UPDATE
   SET value = EXCLUDED.value, revision = s.revision + 1, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
 WHERE s.value IS DISTINCT FROM EXCLUDED.value
RETURNING (xmax = 0) AS created
)
SELECT (SELECT count(*) FROM figures)::int AS tenants,
       (SELECT count(*) FROM upserted WHERE created)::int AS created,
       (SELECT count(*) FROM upserted WHERE NOT created)::int AS updated`;

/**
 * `maintenance.kpi_rollup`, hourly at minute 5 (UTC): the platform's own delivery KPIs, per tenant.
 *
 * Each run rolls the last complete hour H and re-rolls the 2 hours before it, so a delivery that
 * finishes late (a retry that ends after its hour was first rolled: it counts in the hour of its
 * `finished_at`) is picked up. For each hour [H, H+1h) and each tenant, from its deliveries that
 * reached a terminal state (`success`, `failed`, `dead_letter`) with `finished_at` in that hour:
 * - `ipm.deliveries.total`: their count;
 * - `ipm.deliveries.failed`: those `failed` or `dead_letter`;
 * - `ipm.delivery.success_rate`: `success` / total, 0..1;
 * - `ipm.delivery.latency_p95_ms`: percentile_cont(0.95) of their `last_duration_ms` (the last
 *   attempt's duration; deliveries without one are left out, and so is the KPI when none has one).
 *
 * Snapshots have scope `org`, bucket `hourly`, app_id null, and are written by `ipm-kpi-rollup`,
 * one SQL statement per hour for all tenants. Idempotent: an existing snapshot gets a new value
 * and revision only when the figure changed, so re-running gives the same numbers and revisions.
 * An hour in which a tenant had no finished delivery writes nothing for it (no zero snapshots),
 * and a snapshot is never deleted: figures only move with deliveries finishing in the window
 * (deliveries deleted by retention or purge later do not rewrite old hours past the window).
 * No audit rows: these are derived figures, not a caller's change. With `{ hour }`, only that
 * hour is rolled (a backfill).
 */
@Injectable()
export class KpiRollup implements OnApplicationBootstrap, BeforeApplicationShutdown {
  static readonly SCHEDULE = { pattern: '5 * * * *', tz: 'UTC' } as const;
  private readonly logger = new Logger(KpiRollup.name);
  private stopSchedule?: () => void;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: JobProducer,
    private readonly config: AppConfig,
  ) {}

  /** Declared at boot by every worker and kept declared every SWEEPER_INTERVAL_MS (a schedule erased with Redis comes back). */
  async onApplicationBootstrap(): Promise<void> {
    this.stopSchedule = await this.jobs.keepScheduled(
      'maintenance.kpi_rollup',
      KpiRollup.SCHEDULE,
      'maintenance.kpi_rollup',
      {},
      this.config.SWEEPER_INTERVAL_MS,
    );
  }

  beforeApplicationShutdown(): void {
    this.stopSchedule?.();
  }

  @JobHandler('maintenance.kpi_rollup')
  async run(payload: KpiRollupJob): Promise<HourRollup[]> {
    const hours = payload.hour === undefined ? rollupHours(new Date()) : [requireHour(payload.hour)];
    const results = await this.rollHours(hours);
    const written = results.reduce((n, r) => n + r.created + r.updated, 0);
    if (written > 0)
      this.logger.log(`kpi rollup wrote ${written} snapshot(s) for ${results.map((r) => r.hour).join(', ')}`);
    return results;
  }

  /** Rolls each hour in turn (one statement, its own transaction, each). */
  async rollHours(hours: readonly Date[]): Promise<HourRollup[]> {
    const results: HourRollup[] = [];
    for (const hour of hours) results.push(await this.rollHour(hour));
    return results;
  }

  /** Every tenant's snapshots for the hour starting at `hour` (which must be on the hour). */
  async rollHour(hour: Date): Promise<HourRollup> {
    const why = misalignment('hourly', hour);
    if (why !== undefined) throw new RangeError(why);
    const now = new Date();
    // `kpi_` and the 10 characters of a ULID's time part; the statement adds the 16 random ones.
    const idTimePart = newId(IdPrefix.Kpi, now.getTime()).slice(0, IdPrefix.Kpi.length + 1 + 10);
    const [counts] = await acrossTenants('the platform rolls up every tenant’s deliveries into its KPIs', () =>
      this.dataSource.query<Array<Omit<HourRollup, 'hour'>>>(ROLLUP_SQL, [
        hour,
        bucketEndOf('hourly', hour),
        idTimePart,
        now,
      ]),
    );
    return { hour: hour.toISOString(), ...counts };
  }
}

/** The hours a run at `now` rolls, oldest first: the last complete hour and the KPI_ROLLUP_HOURS - 1 before it. */
export function rollupHours(now: Date): Date[] {
  const current = bucketStartOf('hourly', now).getTime();
  return Array.from({ length: KPI_ROLLUP_HOURS }, (_, i) => new Date(current - (KPI_ROLLUP_HOURS - i) * HOUR_MS));
}

/** The `hour` of a payload, which must be an instant on the hour; a bad one fails the job without retries. */
function requireHour(text: string): Date {
  const hour = parseInstant(text);
  if (hour === undefined)
    throw new UnrecoverableError(`hour must be an ISO 8601 instant with a zone, e.g. 2026-01-01T10:00:00Z`);
  const why = misalignment('hourly', hour);
  if (why !== undefined) throw new UnrecoverableError(why.replace(/^bucket_start/, 'hour'));
  return hour;
}
