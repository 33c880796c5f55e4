import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { AppConfig, AppError, ErrorCode, formatRevision, IdPrefix, newId } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { PlatformEvents } from '@ipm/events';
import { canFire, fire, initialState } from '@ipm/lifecycle';
import { KpiAlertMachine, type KpiAlertStatus } from '@ipm/lifecycle';
import { checkKpiRecord, type KpiRecord } from '../kpi-record';
import type { KpiAlertDto, KpiAlertRequestDto, KpiAlertResultDto } from './kpi-alert.dto';
import { KpiAlertEntity } from './kpi-alert.entity';
import { KpiAlertsRepository } from './kpi-alerts.repository';
import { isBreached, type KpiComparator } from './kpi-alert.evaluation';

const TARGET_TYPE = 'kpi_alert';
export const KPI_ALERT_ACTION = 'kpi.alert';
const MINUTE_MS = 60_000;

/** An alert's key within a tenant: the snapshot's key, the comparator and the threshold. */
type AlertKey = Omit<KpiRecord, 'value'> & { comparator: KpiComparator; threshold: number };

/** The `ipm.kpi.alert` payload (catalog definitions/ipm.v1.json). */
export interface KpiAlertEventPayload {
  alert_id: string;
  kpi_code: string;
  scope: string;
  value: number;
  threshold: { comparator: KpiComparator; value: number };
  bucket: string;
  bucket_start: string;
  bucket_end: string;
}

/**
 * `/kpi/alert`: evaluates a threshold against a value (given, or the stored snapshot's), keeps one
 * alert per key whose state follows KpiAlertMachine, and publishes `ipm.kpi.alert` in the same
 * transaction when asked and crossed, at most once per KPI_ALERT_COOLDOWN_MINUTES per alert.
 */
@Injectable()
export class KpiAlertService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly alerts: KpiAlertsRepository,
    private readonly audit: AuditService,
    private readonly events: PlatformEvents,
    private readonly config: AppConfig,
  ) {}

  async evaluate(caller: Caller, request: KpiAlertRequestDto): Promise<KpiAlertResultDto> {
    const key = checkAlertKey(request);
    return this.dataSource.transaction(async (em) => {
      const value = request.alert.value ?? (await this.storedValue(em, caller, key));
      const breached = isBreached(key.comparator, value, key.threshold);
      const notify = request.notify === true && breached;
      const now = new Date();

      const inserted = await this.insert(em, caller, key, value, breached, notify ? now : null, now);
      if (inserted) {
        const eventId = notify ? await this.publish(em, caller, inserted) : undefined;
        await this.writeAudit(em, caller, request, inserted, { created: true, from: null, notified: notify, eventId });
        return { alert: toKpiAlertDto(inserted), created: true, notified: notify };
      }

      const existing = await this.lock(em, caller.orgcode, key);
      if (!existing) throw AppError.conflict('The alert changed concurrently; retry');
      // The key is the tenant's: an application principal evaluates (and sees) only its own alerts,
      // as /kpi/record lets it replace only its own snapshots.
      if (caller.app_id !== null && existing.app_id !== caller.app_id) {
        throw AppError.forbidden(
          'This alert was created by another application: an application principal can only evaluate its own',
        );
      }
      const cooldownUntil =
        existing.last_notified_at === null
          ? undefined
          : new Date(existing.last_notified_at.getTime() + this.config.KPI_ALERT_COOLDOWN_MINUTES * MINUTE_MS);
      const inCooldown = cooldownUntil !== undefined && now.getTime() < cooldownUntil.getTime();
      const notified = notify && !inCooldown;
      // The tenant's alert (an app principal's own, checked above): the scope is the tenant.
      const updated = await this.alerts.revise(
        { orgcode: caller.orgcode },
        em,
        existing,
        { alert_id: existing.alert_id },
        {
          actor: caller.actor_id,
          at: now,
          patch: {
            value,
            breached,
            state: nextState(existing.state, breached),
            evaluated_at: now,
            last_notified_at: notified ? now : existing.last_notified_at,
          },
        },
      );
      const eventId = notified ? await this.publish(em, caller, updated) : undefined;
      await this.writeAudit(em, caller, request, updated, {
        created: false,
        from: existing.state,
        notified,
        eventId,
      });
      const result: KpiAlertResultDto = { alert: toKpiAlertDto(updated), created: false, notified };
      if (notify && !notified && cooldownUntil) result.cooldown_until = cooldownUntil.toISOString();
      return result;
    });
  }

  /**
   * The value of the stored snapshot of the alert's bucket; 404 when none was recorded (for an
   * application principal: none by its application, as /kpi/query shows it only its own).
   */
  private async storedValue(em: EntityManager, caller: Caller, key: AlertKey): Promise<number> {
    const rows = await em.query<Array<{ value: number }>>(
      `SELECT value FROM kpi_snapshots
        WHERE orgcode = $1 AND kpi_code = $2 AND bucket = $3 AND scope = $4 AND bucket_start = $5
          AND ($6::text IS NULL OR app_id = $6)`,
      [caller.orgcode, key.kpi_code, key.bucket, key.scope, key.bucket_start, caller.app_id],
    );
    if (rows.length) return rows[0].value;
    const message =
      `No ${key.bucket} snapshot of ${key.kpi_code} (scope ${key.scope}) starting at ${key.bucket_start.toISOString()} ` +
      'was recorded: record it with /kpi/record, or give alert.value';
    throw new AppError(HttpStatus.NOT_FOUND, ErrorCode.NotFound, message, [{ field: 'alert.value', message }]);
  }

  /** Inserts the alert unless its key exists (or is being inserted): the row, or undefined when taken. */
  private async insert(
    em: EntityManager,
    caller: Caller,
    key: AlertKey,
    value: number,
    breached: boolean,
    notifiedAt: Date | null,
    now: Date,
  ): Promise<KpiAlertEntity | undefined> {
    const initial: KpiAlertStatus = initialState(KpiAlertMachine);
    const row: KpiAlertEntity = {
      alert_id: newId(IdPrefix.Alert, now.getTime()),
      orgcode: caller.orgcode,
      app_id: caller.app_id,
      ...key,
      value,
      breached,
      // Never crossed yet: nothing fires, the alert starts (legally) resolved and fires when crossed.
      state: breached ? initial : fire(KpiAlertMachine, initial, 'resolve'),
      evaluated_at: now,
      last_notified_at: notifiedAt,
      created_at: now,
      created_by: caller.actor_id,
      updated_at: now,
      updated_by: caller.actor_id,
      revision: 1,
    };
    const inserted = await em.query<Array<{ alert_id: string }>>(
      `INSERT INTO kpi_alerts (alert_id, orgcode, app_id, kpi_code, scope, bucket, bucket_start, bucket_end,
         comparator, threshold, value, breached, state, evaluated_at, last_notified_at,
         created_at, created_by, updated_at, updated_by, revision)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $14, $16, $14, $16, 1)
       ON CONFLICT (orgcode, kpi_code, scope, bucket, bucket_start, comparator, threshold) DO NOTHING
       RETURNING alert_id`,
      [
        row.alert_id,
        row.orgcode,
        row.app_id,
        row.kpi_code,
        row.scope,
        row.bucket,
        row.bucket_start,
        row.bucket_end,
        row.comparator,
        row.threshold,
        row.value,
        row.breached,
        row.state,
        now,
        row.last_notified_at,
        caller.actor_id,
      ],
    );
    return inserted.length ? row : undefined;
  }

  /** The tenant's alert with that key, locked FOR UPDATE (concurrent evaluations of one alert queue up). */
  private async lock(em: EntityManager, orgcode: string, key: AlertKey): Promise<KpiAlertEntity | undefined> {
    const rows = await em.query<KpiAlertEntity[]>(
      `SELECT * FROM kpi_alerts
        WHERE orgcode = $1 AND kpi_code = $2 AND scope = $3 AND bucket = $4 AND bucket_start = $5
          AND comparator = $6 AND threshold = $7
        FOR UPDATE`,
      [orgcode, key.kpi_code, key.scope, key.bucket, key.bucket_start, key.comparator, key.threshold],
    );
    return rows[0];
  }

  private publish(em: EntityManager, caller: Caller, alert: KpiAlertEntity): Promise<string> {
    return this.events.emit(em, caller, KPI_ALERT_ACTION, toKpiAlertEvent(alert), { logical_guid: alert.alert_id });
  }

  private writeAudit(
    em: EntityManager,
    caller: Caller,
    request: KpiAlertRequestDto,
    alert: KpiAlertEntity,
    change: { created: boolean; from: KpiAlertStatus | null; notified: boolean; eventId: string | undefined },
  ): Promise<string> {
    return this.audit.record(em, caller, request, {
      action: KPI_ALERT_ACTION,
      target_type: TARGET_TYPE,
      target_id: alert.alert_id,
      metadata: {
        created: change.created,
        from: change.from,
        to: alert.state,
        breached: alert.breached,
        value: alert.value,
        notified: change.notified,
        event_id: change.eventId ?? null,
        kpi_code: alert.kpi_code,
        scope: alert.scope,
        bucket: alert.bucket,
        bucket_start: alert.bucket_start.toISOString(),
        threshold: { comparator: alert.comparator, value: alert.threshold },
        revision: formatRevision(alert.revision),
      },
    });
  }
}

/**
 * The state after an evaluation: crossed makes a resolved alert fire again (firing and acknowledged
 * stay as they are); back within the threshold resolves a firing or acknowledged one.
 */
export function nextState(from: KpiAlertStatus, breached: boolean): KpiAlertStatus {
  const name = breached ? 'fire' : 'resolve';
  return canFire(KpiAlertMachine, from, name) ? fire(KpiAlertMachine, from, name) : from;
}

/** The request's key, checked as /kpi/record checks a snapshot's (400 naming `alert.<field>`). */
function checkAlertKey(request: KpiAlertRequestDto): AlertKey {
  const { threshold, value, ...snapshotKey } = request.alert;
  // The value is optional here (and already checked by the DTO): any finite one lets the shared checks run.
  const checked = checkKpiRecord({ ...snapshotKey, value: value ?? 0 });
  if ('details' in checked) {
    throw AppError.validation(checked.details.map((d) => ({ ...d, field: `alert.${d.field ?? ''}` })));
  }
  const { kpi_code, scope, bucket, bucket_start, bucket_end } = checked.record;
  return {
    kpi_code,
    scope,
    bucket,
    bucket_start,
    bucket_end,
    comparator: threshold.comparator,
    threshold: threshold.value,
  };
}

export function toKpiAlertDto(a: KpiAlertEntity): KpiAlertDto {
  return {
    alert_id: a.alert_id,
    kpi_code: a.kpi_code,
    value: a.value,
    threshold: { comparator: a.comparator, value: a.threshold },
    scope: a.scope,
    bucket: a.bucket,
    bucket_start: a.bucket_start.toISOString(),
    bucket_end: a.bucket_end.toISOString(),
    state: a.state,
    breached: a.breached,
    evaluated_at: a.evaluated_at.toISOString(),
    last_notified_at: a.last_notified_at?.toISOString() ?? null,
    orgcode: a.orgcode,
    app_id: a.app_id,
    created_at: a.created_at.toISOString(),
    created_by: a.created_by,
    updated_at: a.updated_at.toISOString(),
    updated_by: a.updated_by,
    revision: formatRevision(a.revision),
  };
}

export function toKpiAlertEvent(a: KpiAlertEntity): KpiAlertEventPayload {
  return {
    alert_id: a.alert_id,
    kpi_code: a.kpi_code,
    scope: a.scope,
    value: a.value,
    threshold: { comparator: a.comparator, value: a.threshold },
    bucket: a.bucket,
    bucket_start: a.bucket_start.toISOString(),
    bucket_end: a.bucket_end.toISOString(),
  };
}
