import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  AppError,
  ErrorCode,
  PAGE_DEFAULT,
  PAGE_MAX,
  PAGE_MIN,
  PAGE_TOKEN_NAME,
  pageInMemory,
  PageTokens,
  requireRevision,
  revisionMismatch,
  stableStringify,
} from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { PlatformEvents } from '@ipm/events';
import { CATALOG_FILES, CatalogRegistry, toEntry } from '@ipm/catalog';
import { EventTypeEntry, eventTypeName } from '@ipm/catalog';
import {
  CatalogEntryDto,
  CatalogListRequestDto,
  CatalogUpsertRequestDto,
  ExportContractDto,
  ExportContractListDto,
  ExportContractListRequestDto,
  PaginationConventionsDto,
  SchemaDto,
  SpecimenDto,
} from './dto/catalog.dto';
import { EventTypeEntity } from '@ipm/catalog';
import { dottedPath, failuresText } from '@ipm/catalog';
import { EventTypeRepository } from './event-type.repository';

export const SCHEMA_ROUTE = '/ipm/event/schema';
const TENANT_PARTITIONING: Array<Record<string, string>> = [
  { field: 'orgcode', kind: 'tenant' },
  { field: 'received_at', kind: 'time', granularity: 'day' },
];

export function schemaUrl(eventType: string): string {
  return `${SCHEMA_ROUTE}/${eventType}`;
}

function toDto(e: EventTypeEntry): CatalogEntryDto {
  return {
    event_type: e.event_type,
    service: e.service,
    action: e.action,
    version: e.version,
    description: e.description,
    deprecated_at: e.deprecated_at,
    schema_url: schemaUrl(e.event_type),
    source: e.source,
    ...(e.revision !== undefined ? { revision: String(e.revision) } : {}),
  };
}

/** The catalog routes: listing, schemas, specimens, export contracts, and tenants' own types. */
@Injectable()
export class CatalogService {
  constructor(
    private readonly registry: CatalogRegistry,
    private readonly pages: PageTokens,
    private readonly audit: AuditService,
    private readonly events: PlatformEvents,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly eventTypes: EventTypeRepository,
  ) {}

  async list(
    caller: Caller,
    request: CatalogListRequestDto,
  ): Promise<{ items: CatalogEntryDto[]; next_token?: string }> {
    const includeDeprecated = request.include_deprecated ?? true;
    const entries = (await this.registry.list(caller.orgcode)).filter(
      (e) =>
        (!request.service || e.service === request.service) &&
        (!request.action || e.action === request.action) &&
        (!request.action_prefix || e.action.startsWith(request.action_prefix)) &&
        (includeDeprecated || e.deprecated_at === null),
    );
    const filters = { s: request.service, a: request.action, p: request.action_prefix, d: includeDeprecated };
    const page = pageInMemory(this.pages, entries, (e) => e.event_type, request, {
      orgcode: caller.orgcode,
      resource: 'event.catalog.list',
      filters,
    });
    return { items: page.items.map(toDto), next_token: page.next_token };
  }

  async schema(caller: Caller, eventType: string): Promise<SchemaDto> {
    const entry = await this.require(caller, eventType);
    return { event_type: entry.event_type, version: entry.version, schema: entry.schema };
  }

  async types(
    caller: Caller,
    request: { service?: string; limit?: number; next_token?: string },
  ): Promise<{ items: string[]; next_token?: string }> {
    const names = (await this.registry.list(caller.orgcode))
      .filter((e) => !request.service || e.service === request.service)
      .map((e) => e.event_type);
    return pageInMemory(this.pages, names, (n) => n, request, {
      orgcode: caller.orgcode,
      resource: 'event.type.list',
      filters: { s: request.service },
    });
  }

  async specimen(caller: Caller, name: string): Promise<SpecimenDto> {
    const entry = await this.require(caller, name);
    return {
      name: entry.event_type,
      version: entry.version,
      specimen: entry.specimen,
      specimens: { [String(entry.version)]: entry.specimen },
    };
  }

  async contracts(caller: Caller, request: ExportContractListRequestDto): Promise<ExportContractListDto> {
    const entries = await this.registry.list(caller.orgcode);
    const byService = new Map<string, EventTypeEntry[]>();
    for (const e of entries) {
      if (request.service && e.service !== request.service) continue;
      byService.set(e.service, [...(byService.get(e.service) ?? []), e]);
    }
    const contracts: ExportContractDto[] = [...byService.entries()].map(([service, types]) => {
      const file = CATALOG_FILES.find((f) => f.service === service);
      return {
        service,
        stream: 'events',
        format: 'ndjson',
        version: file?.version ?? String(Math.max(...types.map((t) => t.version))),
        partitioning: file?.partitioning ?? TENANT_PARTITIONING,
        actions: types
          .sort((a, b) => (a.action < b.action ? -1 : 1))
          .map((t) => ({
            action: t.action,
            event_type: t.event_type,
            version: t.version,
            schema_url: schemaUrl(t.event_type),
            deprecated_at: t.deprecated_at,
          })),
      };
    });
    const page = pageInMemory(this.pages, contracts, (c) => c.service, request, {
      orgcode: caller.orgcode,
      resource: 'export.contract.list',
      filters: { s: request.service },
    });
    return { contracts: page.items, next_token: page.next_token };
  }

  pagination(): PaginationConventionsDto {
    return {
      default_limit: PAGE_DEFAULT,
      min_limit: PAGE_MIN,
      max_limit: PAGE_MAX,
      token_name: PAGE_TOKEN_NAME,
      token:
        'Opaque and tamper-evident (HMAC-signed keyset cursor). Pass it back unchanged with the same filters; it is absent on the last page. A forged token, or one from another list, tenant or filter set, is a 400.',
      ordering: {
        records: 'newest first (by id, a time-ordered ULID)',
        catalog: 'by event type, then name (alphabetical)',
        cdc: 'commit order, oldest first, gap-free: (transaction id, sequence); waits while an older transaction is open',
      },
      limit_out_of_range: `clamped to ${PAGE_MIN}-${PAGE_MAX}; a non-integer limit is a 400`,
    };
  }

  /** Creates or changes one of the tenant's own event types. */
  async upsert(caller: Caller, request: CatalogUpsertRequestDto): Promise<CatalogEntryDto> {
    if (this.registry.isPlatformService(request.service)) {
      throw AppError.unprocessable(
        `service "${request.service}" belongs to the platform catalog; use your own service name`,
        [{ field: 'service', message: 'reserved by the platform' }],
      );
    }
    await this.checkSchema(caller, request);
    const eventType = eventTypeName(request.service, request.action);
    const now = new Date();
    const entity = await this.dataSource.transaction(async (em) => {
      const existing = await this.eventTypes.findOne(caller, { event_type: eventType }, { em, lock: 'update' });
      let row: EventTypeEntity;
      if (!existing) {
        if (request.expected_revision !== undefined)
          throw revisionMismatch(requireRevision(request.expected_revision), 0);
        row = {
          orgcode: caller.orgcode,
          event_type: eventType,
          service: request.service,
          action: request.action,
          version: 1,
          description: request.description,
          schema: request.schema,
          specimen: request.specimen,
          deprecated_at: request.deprecated_at ? new Date(request.deprecated_at) : null,
          created_at: now,
          created_by: caller.actor_id,
          updated_at: now,
          updated_by: caller.actor_id,
          revision: 1,
        };
        await this.eventTypes.insert(caller, row, em);
      } else {
        const expected = requireRevision(request.expected_revision);
        const schemaChanged = stableStringify(existing.schema) !== stableStringify(request.schema);
        row = await this.eventTypes.revise(
          caller,
          em,
          existing,
          { event_type: eventType },
          {
            expected,
            actor: caller.actor_id,
            at: now,
            patch: {
              description: request.description,
              schema: request.schema,
              specimen: request.specimen,
              deprecated_at:
                request.deprecated_at === undefined
                  ? existing.deprecated_at
                  : request.deprecated_at === null
                    ? null
                    : new Date(request.deprecated_at),
              version: schemaChanged ? existing.version + 1 : existing.version,
            },
          },
        );
      }
      await this.audit.record(em, caller, request, {
        action: existing ? 'catalog.type_update' : 'catalog.type_create',
        target_type: 'event_type',
        target_id: eventType,
        metadata: { version: row.version, revision: row.revision },
      });
      await this.events.emit(
        em,
        caller,
        'catalog.type_upserted',
        {
          event_type: eventType,
          version: row.version,
          revision: String(row.revision),
          deprecated_at: row.deprecated_at?.toISOString() ?? null,
        },
        { logical_guid: eventType },
      );
      return row;
    });
    return toDto(toEntry(entity));
  }

  /**
   * The schema must pass the cost model, be a JSON Schema Ajv compiles, and accept the specimen; all of it runs in
   * the validation pool, with the same deadline as a payload.
   */
  private async checkSchema(caller: Caller, request: CatalogUpsertRequestDto): Promise<void> {
    const result = await this.registry.checkSchema(caller.orgcode, request.schema, request.specimen);
    switch (result.kind) {
      case 'valid':
        return;
      case 'costly': {
        const [first] = result.problems;
        throw AppError.unprocessable(
          `schema refused: ${first.message} (at ${first.schema_path || '/'})`,
          result.problems.map((p) => ({
            field: `schema${dottedPath(p.schema_path)}`,
            schema_path: p.schema_path,
            keyword: p.keyword,
            message: p.message,
          })),
          ErrorCode.SchemaTooCostly,
        );
      }
      case 'exceeded': {
        const message = `checking the schema and its specimen ran past the ${this.registry.validationDeadlineMs} ms deadline and was cut off: simplify the schema`;
        throw AppError.unprocessable(message, [{ field: 'schema', message }], ErrorCode.SchemaTooCostly);
      }
      case 'invalid':
        throw AppError.unprocessable(result.message, [{ field: 'schema', message: result.message }]);
      case 'failures':
        throw AppError.unprocessable(
          `specimen does not validate against the schema: ${failuresText(result.failures)}`,
          result.failures.map((f) => ({ field: `specimen${dottedPath(f.path)}`, path: f.path, message: f.message })),
        );
    }
  }

  private async require(caller: Caller, eventType: string): Promise<EventTypeEntry> {
    const entry = await this.registry.find(caller.orgcode, eventType);
    if (!entry) throw AppError.notFound(`Event type ${eventType}`);
    return entry;
  }
}
