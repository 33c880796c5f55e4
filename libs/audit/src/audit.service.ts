import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { IdPrefix, MutationRequestDto, newId, Page, PageTokens } from '@ipm/core';
import type { Caller } from '@ipm/auth/principal';
import { fetchKeysetPage } from '@ipm/persistence';
import { AuditLogEntity } from './audit-log.entity';
import { AuditListRequestDto, AuditRecordDto } from './dto/audit.dto';

export interface AuditEntry {
  action: string;
  target_type?: string;
  target_id?: string;
  /** Non-secret facts only (field names, states): never a secret or a payload. */
  metadata?: Record<string, unknown>;
}

/** Writes audit rows inside the caller's transaction, and lists them. */
@Injectable()
export class AuditService {
  constructor(
    @InjectRepository(AuditLogEntity) private readonly repo: Repository<AuditLogEntity>,
    private readonly pages: PageTokens,
  ) {}

  /** Inserts the row with `manager`, so it commits or rolls back with the change itself. */
  async record(
    manager: EntityManager,
    caller: Caller,
    request: MutationRequestDto,
    entry: AuditEntry,
  ): Promise<string> {
    const audit_id = newId(IdPrefix.Audit);
    await manager.insert(AuditLogEntity, {
      audit_id,
      orgcode: caller.orgcode,
      actor_type: caller.kind,
      actor_id: caller.actor_id,
      app_id: caller.app_id,
      action: entry.action,
      target_type: entry.target_type ?? null,
      target_id: entry.target_id ?? null,
      reason: request.reason ?? null,
      source_refs: request.source_refs?.map(({ kind, id }) => ({ kind, id })) ?? [],
      request_context: request.request_context ? { ...request.request_context } : null,
      metadata: entry.metadata ?? null,
    });
    return audit_id;
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
    const qb = this.repo.createQueryBuilder('a').where('a.orgcode = :orgcode', { orgcode: caller.orgcode });
    if (caller.app_id) qb.andWhere('a.app_id = :app_id', { app_id: caller.app_id });
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
