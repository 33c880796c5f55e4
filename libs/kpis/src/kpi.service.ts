import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import {
  AppError,
  ErrorCode,
  formatRevision,
  IdPrefix,
  type MutationRequestDto,
  newId,
  REVISION_FIELD,
  requireRevision,
} from '@ipm/core';
import type { Caller, Principal } from '@ipm/auth';
import { AUDIT_COLUMNS, type AuditEntry, auditRow, AuditService } from '@ipm/audit';
import { KpiDto, KpiRecordRequestDto, KpiRecordResultDto } from './dto/kpi.dto';
import { KpiSnapshotEntity } from './entities/kpi-snapshot.entity';
import { KpiSnapshotsRepository } from './entities/kpi-snapshots.repository';
import { checkKpiRecord, type KpiRecord } from './kpi-record';

const TARGET_TYPE = 'kpi';
/** The platform's own KPIs (the worker's delivery roll-up): read and alerted on like any KPI, written only by it. */
export const PLATFORM_KPI_PREFIX = 'ipm.';
export const KPI_RECORD_ACTION = 'kpi.record';

/** Who writes, in which tenant: an API caller, or a bulk job on its creator's behalf. */
export interface KpiWriteScope {
  orgcode: string;
  /** The application principal's app (its snapshots are its own); null for tenant-wide callers. */
  app_id: string | null;
  /** Recorded as created_by/updated_by and in the audit row. */
  actor: string;
  /** The audit row's actor_type (default `user`). */
  actor_type?: Principal['kind'];
  /** `reason`, `source_refs` and `request_context` for the audit row. */
  request?: MutationRequestDto;
}

export interface KpiUpsertOptions {
  /** Check everything (including the stored snapshot's revision), write nothing. */
  dryRun?: boolean;
}

export type KpiUpsertResult =
  | { ok: true; kpi_id: string; revision: number; created: boolean; snapshot: KpiSnapshotEntity }
  | { ok: false; error: AppError };

const KEY_WHERE = 'orgcode = $1 AND kpi_code = $2 AND bucket = $3 AND scope = $4 AND bucket_start = $5';

/** KPI snapshots: one per (tenant, kpi_code, scope, bucket, bucket_start), replaced only with its revision. */
@Injectable()
export class KpiService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly snapshots: KpiSnapshotsRepository,
    private readonly audit: AuditService,
  ) {}

  /** `/kpi/record`: one upsert in its own transaction; failures as the API's errors (fields under `kpi.`). */
  async record(caller: Caller, request: KpiRecordRequestDto): Promise<KpiRecordResultDto> {
    const scope: KpiWriteScope = {
      orgcode: caller.orgcode,
      app_id: caller.app_id,
      actor: caller.actor_id,
      actor_type: caller.kind,
      request,
    };
    if (request.expected_revision === undefined) {
      const created = await this.createAlone(scope, { ...request.kpi });
      if (created && !created.ok) throw underKpi(created.error);
      if (created) return { kpi: toKpiDto(created.snapshot), created: true };
      // The key exists: the transactional path answers (428, or 403 for another application's).
    }
    const result = await this.dataSource.transaction((em) =>
      this.upsert(em, scope, { ...request.kpi }, request.expected_revision),
    );
    if (!result.ok) throw underKpi(result.error);
    return { kpi: toKpiDto(result.snapshot), created: result.created };
  }

  /**
   * A new snapshot and its audit row in one statement (atomic on its own: no transaction round
   * trips), the common case of /kpi/record. Undefined when the key exists already.
   */
  private async createAlone(
    scope: KpiWriteScope,
    input: Readonly<Record<string, unknown>>,
  ): Promise<{ ok: true; snapshot: KpiSnapshotEntity } | { ok: false; error: AppError } | undefined> {
    const checked = checkInput(input);
    if (!checked.ok) return checked;
    const row = newSnapshot(scope, checked.record);
    const audit = auditRow(auditCaller(scope), scope.request ?? {}, auditEntry(row, { created: true }));
    const inserted = await this.dataSource.query<Array<{ kpi_id: string }>>(
      `WITH inserted AS (${INSERT_SNAPSHOT_SQL}),
       audited AS (
         INSERT INTO audit_log (${AUDIT_COLUMNS})
         SELECT $12, $13, $14, $15, $16, $17, $18, $19, $20, $21::jsonb, $22::jsonb, $23::jsonb, now() FROM inserted
       )
       SELECT kpi_id FROM inserted`,
      [...snapshotValues(row), ...audit.values],
    );
    return inserted.length ? { ok: true, snapshot: row } : undefined;
  }

  /**
   * Creates or replaces one snapshot with `em` (the caller's transaction), with its audit row.
   * A new snapshot needs no revision; an existing one needs `expectedRevision` (missing: 428,
   * stale: 409) and, for an application principal, to be its own app's (403). A bad snapshot is a
   * 400 naming the field. Failures are returned, never thrown, and leave the transaction usable
   * (nothing is attempted that PostgreSQL could refuse), so a bulk chunk carries on after one.
   * Safe under concurrency: a new key is inserted with ON CONFLICT DO NOTHING (the loser of a race
   * sees the winner's row: 428), an existing one is locked before its revision is compared.
   */
  async upsert(
    em: EntityManager,
    scope: KpiWriteScope,
    input: Readonly<Record<string, unknown>>,
    expectedRevision?: string | number,
    options: KpiUpsertOptions = {},
  ): Promise<KpiUpsertResult> {
    try {
      const checked = checkInput(input);
      if (!checked.ok) return checked;
      const expected = expectedRevision === undefined ? undefined : requireRevision(expectedRevision);
      const record = checked.record;
      if (expected === undefined && !options.dryRun) {
        const created = await this.insert(em, scope, record);
        if (created) return { ok: true, kpi_id: created.kpi_id, revision: 1, created: true, snapshot: created };
      }
      const existing = await this.find(em, scope.orgcode, record, !options.dryRun);
      if (!existing) {
        if (expected !== undefined) throw noSnapshot(expected);
        if (options.dryRun) {
          const row = newSnapshot(scope, record);
          return { ok: true, kpi_id: row.kpi_id, revision: 1, created: true, snapshot: row };
        }
        // The insert met a row that is gone by now (nothing deletes snapshots today): let the client retry.
        throw AppError.conflict('The snapshot changed concurrently; retry');
      }
      if (scope.app_id !== null && existing.app_id !== scope.app_id) {
        throw AppError.forbidden(
          'This snapshot was recorded by another application: an application principal can only replace its own',
        );
      }
      if (expected === undefined) {
        throw AppError.preconditionRequired(
          `${REVISION_FIELD} is required to replace the existing snapshot (at revision ${existing.revision})`,
          REVISION_FIELD,
        );
      }
      // Checked before anything else: a stale revision is a 409 even when the value is the same.
      this.snapshots.expectRevision(existing, expected);
      const replaced = await this.replace(em, scope, existing, record, expected, options);
      return { ok: true, kpi_id: replaced.kpi_id, revision: replaced.revision, created: false, snapshot: replaced };
    } catch (err) {
      if (err instanceof AppError) return { ok: false, error: err };
      throw err;
    }
  }

  /** Inserts the snapshot unless its key exists (or is being inserted): the row, or undefined when taken. */
  private async insert(
    em: EntityManager,
    scope: KpiWriteScope,
    record: KpiRecord,
  ): Promise<KpiSnapshotEntity | undefined> {
    const row = newSnapshot(scope, record);
    const inserted = await em.query<Array<{ kpi_id: string }>>(INSERT_SNAPSHOT_SQL, snapshotValues(row));
    if (!inserted.length) return undefined;
    await this.writeAudit(em, scope, row, { created: true });
    return row;
  }

  /** A new value (and revision) for a snapshot that the caller locked and checked; none when the value is the same. */
  private async replace(
    em: EntityManager,
    scope: KpiWriteScope,
    existing: KpiSnapshotEntity,
    record: KpiRecord,
    expected: number,
    options: KpiUpsertOptions,
  ): Promise<KpiSnapshotEntity> {
    if (existing.value === record.value) return existing; // nothing changes: no new revision
    if (options.dryRun) {
      // What the revisioned update would make of it, unwritten.
      return {
        ...existing,
        value: record.value,
        revision: existing.revision + 1,
        updated_at: new Date(),
        updated_by: scope.actor,
      };
    }
    const updated = await this.snapshots.revise(
      { orgcode: scope.orgcode },
      em,
      existing,
      { kpi_id: existing.kpi_id },
      {
        expected,
        actor: scope.actor,
        patch: { value: record.value },
      },
    );
    await this.writeAudit(em, scope, updated, { created: false, previous_value: existing.value });
    return updated;
  }

  /** The tenant's snapshot with that key, locked FOR UPDATE when asked. */
  private async find(
    em: EntityManager,
    orgcode: string,
    record: KpiRecord,
    lock: boolean,
  ): Promise<KpiSnapshotEntity | undefined> {
    const rows = await em.query<KpiSnapshotEntity[]>(
      `SELECT * FROM kpi_snapshots WHERE ${KEY_WHERE}${lock ? ' FOR UPDATE' : ''}`,
      [orgcode, record.kpi_code, record.bucket, record.scope, record.bucket_start],
    );
    return rows[0];
  }

  private writeAudit(
    em: EntityManager,
    scope: KpiWriteScope,
    snapshot: KpiSnapshotEntity,
    metadata: Record<string, unknown>,
  ): Promise<string> {
    return this.audit.record(em, auditCaller(scope), scope.request ?? {}, auditEntry(snapshot, metadata));
  }
}

/** INSERT of a new snapshot unless its key exists; parameters as snapshotValues gives them. */
const INSERT_SNAPSHOT_SQL = `INSERT INTO kpi_snapshots (kpi_id, orgcode, app_id, kpi_code, scope, bucket, bucket_start,
    bucket_end, value, created_at, created_by, updated_at, updated_by, revision)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11, 1)
  ON CONFLICT (orgcode, kpi_code, bucket, scope, bucket_start) DO NOTHING
  RETURNING kpi_id`;

function snapshotValues(row: KpiSnapshotEntity): unknown[] {
  return [
    row.kpi_id,
    row.orgcode,
    row.app_id,
    row.kpi_code,
    row.scope,
    row.bucket,
    row.bucket_start,
    row.bucket_end,
    row.value,
    row.created_at,
    row.created_by,
  ];
}

/** The snapshot checks of /kpi/record, and the platform's own codes refused to everyone else. */
function checkInput(
  input: Readonly<Record<string, unknown>>,
): { ok: true; record: KpiRecord } | { ok: false; error: AppError } {
  const checked = checkKpiRecord(input);
  if ('details' in checked) return { ok: false, error: AppError.validation(checked.details) };
  if (checked.record.kpi_code.startsWith(PLATFORM_KPI_PREFIX)) {
    const message = `kpi_code ${PLATFORM_KPI_PREFIX}* is reserved for the platform's own KPIs`;
    return { ok: false, error: AppError.validation([{ field: 'kpi_code', message }]) };
  }
  return { ok: true, record: checked.record };
}

function auditCaller(scope: KpiWriteScope): Caller {
  return {
    kind: scope.actor_type ?? 'user',
    actor_id: scope.actor,
    orgs: [scope.orgcode],
    permissions: [],
    app_id: scope.app_id,
    orgcode: scope.orgcode,
  };
}

function auditEntry(snapshot: KpiSnapshotEntity, metadata: Record<string, unknown>): AuditEntry {
  return {
    action: KPI_RECORD_ACTION,
    target_type: TARGET_TYPE,
    target_id: snapshot.kpi_id,
    metadata: {
      ...metadata,
      kpi_code: snapshot.kpi_code,
      scope: snapshot.scope,
      bucket: snapshot.bucket,
      bucket_start: snapshot.bucket_start.toISOString(),
      value: snapshot.value,
      revision: formatRevision(snapshot.revision),
    },
  };
}

function newSnapshot(scope: KpiWriteScope, record: KpiRecord): KpiSnapshotEntity {
  const now = new Date();
  return {
    kpi_id: newId(IdPrefix.Kpi, now.getTime()),
    orgcode: scope.orgcode,
    app_id: scope.app_id,
    ...record,
    created_at: now,
    created_by: scope.actor,
    updated_at: now,
    updated_by: scope.actor,
    revision: 1,
  };
}

/** A snapshot as the API shows it; bulk exports write the same. */
export function toKpiDto(s: KpiSnapshotEntity): KpiDto {
  return {
    kpi_id: s.kpi_id,
    orgcode: s.orgcode,
    app_id: s.app_id,
    kpi_code: s.kpi_code,
    scope: s.scope,
    bucket: s.bucket,
    bucket_start: s.bucket_start.toISOString(),
    bucket_end: s.bucket_end.toISOString(),
    value: s.value,
    created_at: s.created_at.toISOString(),
    created_by: s.created_by,
    updated_at: s.updated_at.toISOString(),
    updated_by: s.updated_by,
    revision: formatRevision(s.revision),
  };
}

/** 409: a revision was given for a snapshot that does not exist (omit it to create one). */
function noSnapshot(expected: number): AppError {
  const message = `${REVISION_FIELD} ${expected} was given but no such snapshot exists: omit ${REVISION_FIELD} to create it`;
  return AppError.conflict(message, ErrorCode.RevisionMismatch, [
    { field: REVISION_FIELD, message, expected: String(expected), current: null },
  ]);
}

/** The route's view of an upsert failure: snapshot fields are under `kpi.` in its body. */
function underKpi(error: AppError): AppError {
  if (!error.details) return error;
  const details = error.details.map((d) =>
    d.field === undefined || d.field === REVISION_FIELD ? d : { ...d, field: `kpi.${d.field}` },
  );
  return new AppError(error.status, error.code, error.message, details);
}
