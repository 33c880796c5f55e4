import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import {
  AppConfig,
  AppError,
  createValidationPipe,
  ErrorDetail,
  formatRevision,
  IdPrefix,
  jsonDepth,
  MAX_JSON_DEPTH,
  MutationRequestDto,
  newId,
  Page,
  PageTokens,
  requireRevision,
  stableStringify,
} from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { AuditService } from '@ipm/audit';
import { CatalogRegistry } from '@ipm/catalog';
import { PlatformEvents } from '@ipm/events';
import { fire, initialState, transition, transitionBetween } from '@ipm/lifecycle';
import type { ScopedPatch } from '@ipm/persistence';
import { WebhookMachine, type WebhookStatus } from '@ipm/lifecycle';
import {
  GRACE_DEFAULT_SECONDS,
  RETRY_DEFAULTS,
  RetryPolicyRequestDto,
  WebhookCreatedDto,
  WebhookCreateRequestDto,
  WebhookDeletedDto,
  WebhookDeleteRequestDto,
  WebhookDto,
  WebhookGetRequestDto,
  WebhookListRequestDto,
  WebhookResultDto,
  WebhookRotatedDto,
  WebhookSecretRotateRequestDto,
  WebhookStatusSetRequestDto,
  WebhookUpdateRequestDto,
} from './dto/webhook.dto';
import { EventFilter, RetryPolicy, SIGNING_ALGORITHM, WebhookEntity } from './entities/webhook.entity';
import { EndpointUrlGuard } from './net/ssrf';
import { normalizeFilters, unknownFilterDetails, unknownFiltersError } from './event-filters';
import { WebhookQuery, WebhookRepository } from './webhook.repository';
import { WebhookSecrets } from './webhook-secrets';

export const WEBHOOK_LIMIT_REACHED = 'webhook_limit_reached';
const TARGET_TYPE = 'webhook';

/** The fields an update may change, in the order `changed` lists them. */
const UPDATABLE = [
  'name',
  'description',
  'endpoint_url',
  'event_filters',
  'headers',
  'tags',
  'retry_policy',
  'timeout_ms',
] as const;
type Updatable = (typeof UPDATABLE)[number];
/** Only these may be sent as null (on update: cleared). */
const NULLABLE: readonly string[] = ['name', 'description'];

export interface CreateInOptions {
  /**
   * Webhooks that count against the tenant's cap without being stored (a bulk import's dry run:
   * its earlier would-be creations), so that a dry run refuses the lines a real run would.
   */
  pending?: number;
}

/** A create that passed the checks needing no transaction: the row to insert and the response. */
interface PreparedCreate {
  entity: WebhookEntity;
  created: WebhookCreatedDto;
}

const validationPipe = createValidationPipe();

/**
 * A `/webhook/create` body as the api checks it before the service sees it: the depth limit, then
 * the app's one validation pipe (whitelist, forbidNonWhitelisted, the same field-by-field 400).
 * For callers that get bodies from elsewhere than HTTP (bulk import), before {@link WebhooksService.createIn}.
 */
export async function parseWebhookCreateRequest(body: unknown): Promise<WebhookCreateRequestDto> {
  if (jsonDepth(body) > MAX_JSON_DEPTH) {
    throw AppError.badRequest(`The body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return (await validationPipe.transform(body, {
    type: 'body',
    metatype: WebhookCreateRequestDto,
  })) as WebhookCreateRequestDto;
}

/** Webhook subscriptions: every change in one transaction with its audit row and its platform event. */
@Injectable()
export class WebhooksService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly webhooks: WebhookRepository,
    private readonly secrets: WebhookSecrets,
    private readonly urlGuard: EndpointUrlGuard,
    private readonly catalog: CatalogRegistry,
    private readonly audit: AuditService,
    private readonly events: PlatformEvents,
    private readonly pages: PageTokens,
    private readonly config: AppConfig,
  ) {}

  async create(caller: Caller, request: WebhookCreateRequestDto): Promise<WebhookCreatedDto> {
    // Outside the transaction: DNS may take a while, and no lock should wait on it.
    const prepared = await this.prepareCreate(caller, request);
    await this.dataSource.transaction((em) => this.storeCreate(em, caller, request, prepared, 0));
    return prepared.created;
  }

  /**
   * `/webhook/create` inside the caller's transaction (`em`): the same checks (nulls, app_id, SSRF,
   * event filters against the catalog, the tenant's cap under its creation lock), the same secret,
   * row, audit row and `ipm.webhook.created` event, all written through `em`. `request` must have
   * passed the DTO validation ({@link parseWebhookCreateRequest}). Throws the AppError create would
   * answer with; a database error leaves `em`'s transaction aborted (callers that go on use a savepoint).
   */
  async createIn(
    em: EntityManager,
    caller: Caller,
    request: WebhookCreateRequestDto,
    options: CreateInOptions = {},
  ): Promise<WebhookCreatedDto> {
    const prepared = await this.prepareCreate(caller, request);
    await this.storeCreate(em, caller, request, prepared, options.pending ?? 0);
    return prepared.created;
  }

  /** The checks that need no transaction, and the new row with its secret. */
  private async prepareCreate(caller: Caller, request: WebhookCreateRequestDto): Promise<PreparedCreate> {
    refuseNulls(request, [...UPDATABLE, 'app_id', 'status']);
    if (caller.app_id && request.app_id && request.app_id !== caller.app_id) {
      throw AppError.forbidden('An application principal can only create webhooks for its own app_id');
    }
    const url = await this.urlGuard.check(request.endpoint_url);
    const filters = await this.checkFilters(caller.orgcode, request.event_filters ?? []);
    const now = new Date();
    const webhook_id = newId(IdPrefix.Webhook, now.getTime());
    const issued = this.secrets.issue(webhook_id);
    const entity: WebhookEntity = {
      webhook_id,
      orgcode: caller.orgcode,
      app_id: caller.app_id ?? request.app_id ?? null,
      name: request.name ?? '',
      description: request.description ?? null,
      endpoint_url: url.href,
      status: request.status ?? initialState(WebhookMachine),
      event_filters: filters,
      headers: { ...request.headers },
      retry_policy: retryPolicy(RETRY_DEFAULTS, request.retry_policy, request.timeout_ms),
      signing_algorithm: SIGNING_ALGORITHM,
      secret_sealed: issued.sealed,
      secret_key_id: issued.key_id,
      secret_last4: issued.last4,
      secret_fingerprint: issued.fingerprint,
      previous_secret_sealed: null,
      previous_secret_expires_at: null,
      tags: [...(request.tags ?? [])],
      consecutive_failures: 0,
      paused_at: request.status === 'paused' ? now : null,
      last_delivery_at: null,
      last_delivery_status: null,
      verified_at: null,
      verification_status: null,
      created_at: now,
      created_by: caller.actor_id,
      updated_at: now,
      updated_by: caller.actor_id,
      revision: 1,
      is_deleted: false,
      deleted_at: null,
      deleted_by: null,
    };
    return { entity, created: { ...toWebhookDto(entity), secret: issued.secret } };
  }

  /** The cap under the tenant's creation lock, then the row, its audit row and its event, through `em`. */
  private async storeCreate(
    em: EntityManager,
    caller: Caller,
    request: WebhookCreateRequestDto,
    { entity }: PreparedCreate,
    pending: number,
  ): Promise<void> {
    const live = await this.webhooks.lockTenantAndCount(em, caller);
    if (live + pending >= this.config.WEBHOOK_MAX_PER_TENANT) {
      const message = `This organization has reached its limit of ${this.config.WEBHOOK_MAX_PER_TENANT} webhooks; delete one first`;
      throw AppError.unprocessable(
        message,
        [{ message, limit: this.config.WEBHOOK_MAX_PER_TENANT }],
        WEBHOOK_LIMIT_REACHED,
      );
    }
    await this.webhooks.insert(caller, entity, em);
    await this.record(em, caller, request, 'webhook.create', entity, {
      changed: UPDATABLE.filter((f) => request[f] !== undefined),
      app_id: entity.app_id,
      secret_fingerprint: entity.secret_fingerprint,
    });
    await this.emit(em, caller, 'webhook.created', entity, summary(entity));
  }

  async get(caller: Caller, request: WebhookGetRequestDto): Promise<WebhookResultDto> {
    return { webhook: toWebhookDto(await this.require(caller, request.webhook_id)) };
  }

  async list(caller: Caller, request: WebhookListRequestDto): Promise<Page<WebhookDto>> {
    const orderBy = request.order_by ?? 'created';
    const query: WebhookQuery = {
      status: request.status,
      event_type: request.event_type,
      tag: request.tag,
      app_id: request.app_id,
      order_by: orderBy,
      direction: (request.order ?? (orderBy === 'name' ? 'asc' : 'desc')) === 'asc' ? 'ASC' : 'DESC',
    };
    const scope = { orgcode: caller.orgcode, resource: 'webhook.list', filters: { ...query, app: caller.app_id } };
    const { limit, cursor } = this.pages.read(request, scope);
    // An app principal asking for another app's webhooks: there are none it may see.
    if (caller.app_id && request.app_id && request.app_id !== caller.app_id) return { items: [] };
    const { rows, next } = await this.webhooks.page(caller, query, cursor, limit);
    return { items: rows.map(toWebhookDto), next_token: this.pages.write(scope, next) };
  }

  async update(caller: Caller, request: WebhookUpdateRequestDto): Promise<WebhookResultDto> {
    const expected = requireRevision(request.expected_revision);
    refuseNulls(
      request,
      UPDATABLE.filter((f) => !NULLABLE.includes(f)),
    );
    const given = UPDATABLE.filter((f) => request[f] !== undefined);
    if (!given.length) {
      throw AppError.badRequest(`Nothing to update: give at least one of ${UPDATABLE.join(', ')}`);
    }
    const url = request.endpoint_url === undefined ? undefined : (await this.urlGuard.check(request.endpoint_url)).href;
    const filters =
      request.event_filters === undefined ? undefined : await this.checkFilters(caller.orgcode, request.event_filters);

    return this.dataSource.transaction(async (em) => {
      const row = await this.require(caller, request.webhook_id, em);
      const next: Pick<WebhookEntity, Exclude<Updatable, 'timeout_ms'>> = {
        name: request.name === undefined ? row.name : (request.name ?? ''),
        description: request.description === undefined ? row.description : request.description,
        endpoint_url: url ?? row.endpoint_url,
        event_filters: filters ?? row.event_filters,
        headers: request.headers === undefined ? row.headers : { ...request.headers },
        tags: request.tags === undefined ? row.tags : [...request.tags],
        retry_policy: retryPolicy(row.retry_policy, request.retry_policy, request.timeout_ms),
      };
      const changed = (Object.keys(next) as Array<keyof typeof next>).filter(
        (k) => stableStringify(next[k]) !== stableStringify(row[k]),
      );
      if (!changed.length) {
        // Nothing differs: no new revision, but a stale expected_revision is still a 409.
        this.webhooks.expectRevision(row, expected);
        return { webhook: toWebhookDto(row) };
      }
      const updated = await this.revise(em, caller, row, {
        expected,
        patch: next,
      });
      await this.record(em, caller, request, 'webhook.update', updated, { changed });
      await this.emit(em, caller, 'webhook.updated', updated, { ...summary(updated), changed });
      return { webhook: toWebhookDto(updated) };
    });
  }

  async setStatus(caller: Caller, request: WebhookStatusSetRequestDto): Promise<WebhookResultDto> {
    const expected = requireRevision(request.expected_revision);
    return this.dataSource.transaction(async (em) => {
      const row = await this.require(caller, request.webhook_id, em);
      // A stale revision is reported before an illegal transition (revise() checks it again).
      this.webhooks.expectRevision(row, expected);
      const from = row.status;
      // The API names the target state: the transition is the one between the two (else the 409).
      const name = transitionBetween(WebhookMachine, from, request.status);
      const to =
        name === undefined ? transition(WebhookMachine, from, request.status) : fire(WebhookMachine, from, name);
      const now = new Date();
      const updated = await this.revise(em, caller, row, {
        expected,
        at: now,
        patch: {
          status: to,
          paused_at: to === 'paused' ? now : null,
          // A resumed or re-enabled endpoint starts with a clean slate for auto-pause.
          consecutive_failures: to === 'active' ? 0 : row.consecutive_failures,
        },
      });
      await this.record(em, caller, request, 'webhook.status_set', updated, { from, to });
      const reason = request.reason ?? null;
      await this.emit(em, caller, 'webhook.status_changed', updated, { ...summary(updated), from, to, reason });
      // The specific event too, so that subscribers of ipm.webhook.paused see manual pauses as well.
      await this.emitStatusEvent(em, caller, updated, to, reason);
      return { webhook: toWebhookDto(updated) };
    });
  }

  async delete(caller: Caller, request: WebhookDeleteRequestDto): Promise<WebhookDeletedDto> {
    const expected = request.expected_revision === undefined ? undefined : requireRevision(request.expected_revision);
    return this.dataSource.transaction(async (em) => {
      const row = await this.require(caller, request.webhook_id, em);
      const now = new Date();
      const deleted = await this.revise(em, caller, row, {
        expected,
        at: now,
        patch: { is_deleted: true, deleted_at: now, deleted_by: caller.actor_id },
      });
      await this.record(em, caller, request, 'webhook.delete', deleted, { status: row.status });
      await this.emit(em, caller, 'webhook.deleted', deleted, {
        webhook_id: row.webhook_id,
        deleted_at: now.toISOString(),
      });
      return { webhook_id: row.webhook_id, deleted_at: now.toISOString() };
    });
  }

  async rotateSecret(caller: Caller, request: WebhookSecretRotateRequestDto): Promise<WebhookRotatedDto> {
    const expected = request.expected_revision === undefined ? undefined : requireRevision(request.expected_revision);
    const grace = request.grace_period_seconds ?? GRACE_DEFAULT_SECONDS;
    return this.dataSource.transaction(async (em) => {
      const row = await this.require(caller, request.webhook_id, em);
      const now = new Date();
      const issued = this.secrets.issue(row.webhook_id);
      // One previous secret at a time: a rotation during a grace period ends the older one's.
      const previousUntil = new Date(now.getTime() + grace * 1000);
      const updated = await this.revise(em, caller, row, {
        expected,
        at: now,
        patch: {
          secret_sealed: issued.sealed,
          secret_key_id: issued.key_id,
          secret_last4: issued.last4,
          secret_fingerprint: issued.fingerprint,
          previous_secret_sealed: grace > 0 ? row.secret_sealed : null,
          previous_secret_expires_at: grace > 0 ? previousUntil : null,
        },
      });
      await this.record(em, caller, request, 'webhook.secret_rotate', updated, {
        secret_fingerprint: issued.fingerprint,
        previous_secret_fingerprint: row.secret_fingerprint,
        grace_period_seconds: grace,
        previous_valid_until: previousUntil.toISOString(),
      });
      await this.emit(em, caller, 'webhook.secret_rotated', updated, {
        webhook_id: row.webhook_id,
        secret_last4: issued.last4,
        previous_valid_until: previousUntil.toISOString(),
      });
      return { webhook: toWebhookDto(updated), secret: issued.secret };
    });
  }

  /** The revisioned change of a webhook read FOR UPDATE in `em`'s transaction, by the caller. */
  private revise(
    em: EntityManager,
    caller: Caller,
    row: WebhookEntity,
    change: { expected?: number; at?: Date; patch: ScopedPatch<WebhookEntity> },
  ): Promise<WebhookEntity> {
    return this.webhooks.revise(caller, em, row, { webhook_id: row.webhook_id }, { ...change, actor: caller.actor_id });
  }

  /** The caller's live webhook (locked FOR UPDATE when read with a transaction's manager), or a 404. */
  private async require(caller: Caller, webhookId: string, em?: EntityManager): Promise<WebhookEntity> {
    const row = await this.webhooks.findVisible(caller, webhookId, em, em !== undefined);
    if (!row) throw AppError.notFound('Webhook');
    return row;
  }

  /** The stored filters, or a 422 naming each service or type the tenant's catalog does not know. */
  private async checkFilters(orgcode: string, filters: readonly EventFilter[]): Promise<EventFilter[]> {
    const normalized = normalizeFilters(filters);
    if (!normalized.length) return normalized;
    const details = unknownFilterDetails(normalized, await this.catalog.list(orgcode));
    if (details.length) throw unknownFiltersError(details);
    return normalized;
  }

  /** The audit row: never the secret, never header values (only field names and non-secret facts). */
  private record(
    em: EntityManager,
    caller: Caller,
    request: MutationRequestDto,
    action: string,
    webhook: WebhookEntity,
    metadata: Record<string, unknown>,
  ): Promise<string> {
    return this.audit.record(em, caller, request, {
      action,
      target_type: TARGET_TYPE,
      target_id: webhook.webhook_id,
      metadata: { ...metadata, revision: formatRevision(webhook.revision) },
    });
  }

  private emit(
    em: EntityManager,
    caller: Caller,
    action: string,
    webhook: WebhookEntity,
    payload: object,
  ): Promise<string> {
    return this.events.emit(em, caller, action, payload, { logical_guid: webhook.webhook_id });
  }

  private async emitStatusEvent(
    em: EntityManager,
    caller: Caller,
    webhook: WebhookEntity,
    to: WebhookStatus,
    reason: string | null,
  ): Promise<void> {
    if (to === 'paused') {
      await this.emit(em, caller, 'webhook.paused', webhook, {
        ...summary(webhook),
        reason,
        consecutive_failures: webhook.consecutive_failures,
      });
    } else if (to === 'disabled') {
      await this.emit(em, caller, 'webhook.disabled', webhook, { ...summary(webhook), reason });
    } else {
      await this.emit(em, caller, 'webhook.enabled', webhook, summary(webhook));
    }
  }
}

/** The fields most webhook events carry. */
function summary(w: WebhookEntity): {
  webhook_id: string;
  name: string | null;
  endpoint_url: string;
  status: WebhookStatus;
  revision: string;
} {
  return {
    webhook_id: w.webhook_id,
    name: w.name || null,
    endpoint_url: w.endpoint_url,
    status: w.status,
    revision: formatRevision(w.revision),
  };
}

/** `base` with the request's retry_policy fields and the `timeout_ms` shorthand applied. */
export function retryPolicy(
  base: RetryPolicy,
  requested: RetryPolicyRequestDto | undefined,
  timeoutMs: number | undefined,
): RetryPolicy {
  if (timeoutMs !== undefined && requested?.timeout_ms !== undefined && requested.timeout_ms !== timeoutMs) {
    throw AppError.badRequest('timeout_ms and retry_policy.timeout_ms disagree: give one', 'timeout_ms');
  }
  const policy: RetryPolicy = {
    max_attempts: requested?.max_attempts ?? base.max_attempts,
    backoff: requested?.backoff ?? base.backoff,
    timeout_ms: timeoutMs ?? requested?.timeout_ms ?? base.timeout_ms,
  };
  const autoPause = requested?.auto_pause_after === undefined ? base.auto_pause_after : requested.auto_pause_after;
  if (autoPause !== undefined && autoPause !== null) policy.auto_pause_after = autoPause;
  return policy;
}

/** A 400 naming each of `fields` that was sent as null (IsOptional lets null through). */
function refuseNulls(request: object, fields: readonly string[]): void {
  const body = request as Record<string, unknown>;
  const details: ErrorDetail[] = fields
    .filter((f) => body[f] === null)
    .map((field) => ({ field, message: `${field} cannot be null` }));
  if (details.length) throw AppError.validation(details);
}

export function toWebhookDto(w: WebhookEntity): WebhookDto {
  return {
    webhook_id: w.webhook_id,
    orgcode: w.orgcode,
    app_id: w.app_id,
    name: w.name || null,
    description: w.description,
    endpoint_url: w.endpoint_url,
    status: w.status,
    event_filters: w.event_filters,
    headers: w.headers,
    retry_policy: w.retry_policy,
    signing_algorithm: w.signing_algorithm,
    secret_last4: w.secret_last4,
    secret_fingerprint: w.secret_fingerprint,
    previous_secret_expires_at: w.previous_secret_expires_at?.toISOString() ?? null,
    tags: w.tags,
    consecutive_failures: w.consecutive_failures,
    paused_at: w.paused_at?.toISOString() ?? null,
    last_delivery_at: w.last_delivery_at?.toISOString() ?? null,
    last_delivery_status: w.last_delivery_status,
    verified_at: w.verified_at?.toISOString() ?? null,
    verification_status: w.verification_status,
    created_at: w.created_at.toISOString(),
    created_by: w.created_by,
    updated_at: w.updated_at.toISOString(),
    updated_by: w.updated_by,
    revision: formatRevision(w.revision),
  };
}
