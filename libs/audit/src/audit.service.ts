import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { IdPrefix, MutationRequestDto, newId, Page, PageTokens } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { fetchKeysetPage } from '@ipm/persistence';
import type { AuditLogEntity } from './audit-log.entity';
import { AuditLogRepository } from './audit-log.repository';
import { AuditListRequestDto, AuditRecordDto } from './dto/audit.dto';

export interface AuditEntry {
  action: string;
  target_type?: string;
  target_id?: string;
  /** Non-secret facts only (field names, states): never a secret or a payload. */
  metadata?: Record<string, unknown>;
}

/** The columns an audit row is written with; `created_at` is the database's `now()` (the transaction's start). */
export const AUDIT_COLUMNS = `audit_id, orgcode, actor_type, actor_id, app_id, action, target_type, target_id, reason,
  source_refs, request_context, metadata, created_at`;

const INSERT_AUDIT_SQL = `INSERT INTO audit_log (${AUDIT_COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12::jsonb, now())`;

/** An audit row's id and its parameters, in AUDIT_COLUMNS order (without created_at). */
export function auditRow(
  caller: Caller,
  request: MutationRequestDto,
  entry: AuditEntry,
): { audit_id: string; values: unknown[] } {
  const audit_id = newId(IdPrefix.Audit);
  const sourceRefs = request.source_refs?.map(({ kind, id }) => ({ kind, id })) ?? [];
  return {
    audit_id,
    values: [
      audit_id,
      caller.orgcode,
      caller.kind,
      caller.actor_id,
      caller.app_id,
      entry.action,
      entry.target_type ?? null,
      entry.target_id ?? null,
      request.reason ?? null,
      JSON.stringify(sourceRefs),
      request.request_context ? JSON.stringify({ ...request.request_context }) : null,
      entry.metadata === undefined ? null : JSON.stringify(entry.metadata),
    ],
  };
}

/** Writes audit rows inside the caller's transaction, and lists them. */
@Injectable()
export class AuditService {
  constructor(
    private readonly repo: AuditLogRepository,
    private readonly pages: PageTokens,
  ) {}

  /**
   * Inserts the row with `manager`, so it commits or rolls back with the change itself; its tenant
   * is the caller's (the scope).
   */
  async record(
    manager: EntityManager,
    caller: Caller,
    request: MutationRequestDto,
    entry: AuditEntry,
  ): Promise<string> {
    const row = auditRow(caller, request, entry);
    // One plain statement: TypeORM's insert builder cost more CPU than the rest of a small write.
    await manager.query(INSERT_AUDIT_SQL, row.values);
    return row.audit_id;
  }

  async list(caller: Caller, request: AuditListRequestDto): Promise<Page<AuditRecordDto>> {
    const filters = {
      action: request.action,
      target_id: request.target_id,
      from: request.from,
      to: request.to,
      app: caller.app_id,
    };
    const scope = { orgcode: caller.orgcode, resource: 'audit.list', filters };
    const { limit, cursor } = this.pages.read(request, scope);
    const qb = this.repo.query(caller, 'a');
    if (request.action) qb.andWhere('a.action = :action', { action: request.action });
    if (request.target_id) qb.andWhere('a.target_id = :target_id', { target_id: request.target_id });
    if (request.from) qb.andWhere('a.created_at >= :from', { from: request.from });
    if (request.to) qb.andWhere('a.created_at < :to', { to: request.to });
    const { rows, next } = await fetchKeysetPage(
      qb,
      { columns: ['a.audit_id'], direction: 'DESC', cursorOf: (r) => [r.audit_id] },
      cursor,
      limit,
    );
    return { items: rows.map(toAuditRecord), next_token: this.pages.write(scope, next) };
  }
}

export function toAuditRecord(row: AuditLogEntity): AuditRecordDto {
  return {
    audit_id: row.audit_id,
    orgcode: row.orgcode,
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    app_id: row.app_id,
    action: row.action,
    target_type: row.target_type,
    target_id: row.target_id,
    reason: row.reason,
    source_refs: row.source_refs,
    request_context: row.request_context,
    metadata: row.metadata,
    created_at: row.created_at.toISOString(),
  };
}
