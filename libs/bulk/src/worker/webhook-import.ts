import { Injectable } from '@nestjs/common';
import { QueryFailedError, type EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '@ipm/core';
import type { Caller } from '@ipm/auth';
import { parseWebhookCreateRequest, WebhooksService } from '@ipm/webhooks';
import type { WebhookCreateRequestDto } from '@ipm/webhooks';
import type { ReportEntry } from '../formats';
import { describeJsonError } from '../formats/ndjson';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import type { CsvMapping, CsvShape, ImportRecord } from './import-records';
import type { ChunkResult, ImportTarget } from './targets';

/** `/webhook/create`'s body fields that are text (CSV: the cell as is). */
const TEXT_FIELDS = ['name', 'description', 'app_id', 'status', 'reason'] as const;
/** Fields that are numbers (CSV: the cell as a JSON number; anything else is left for validation to refuse). */
const NUMBER_FIELDS = ['timeout_ms'] as const;
/** Fields that are arrays or objects (CSV: the cell as JSON text). */
const JSON_FIELDS = ['event_filters', 'headers', 'retry_policy', 'tags', 'source_refs', 'request_context'] as const;

/** The CSV columns: `/webhook/create`'s body fields, `endpoint_url` required. */
export const WEBHOOK_CSV_COLUMNS = {
  required: ['endpoint_url'],
  optional: [...TEXT_FIELDS, ...NUMBER_FIELDS, ...JSON_FIELDS],
} as const;

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * CSV for webhooks: one `/webhook/create` body per row. Text fields as they are, numbers as
 * numbers, arrays and objects (event_filters, headers, retry_policy, tags…) as JSON text; an empty
 * cell is an absent field. Cells that are not valid JSON are named, all of them, in one error.
 */
export const WEBHOOK_CSV: CsvShape = {
  required: WEBHOOK_CSV_COLUMNS.required,
  optional: WEBHOOK_CSV_COLUMNS.optional,
  toValue(fields): CsvMapping {
    const value: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const [name, text] of Object.entries(fields)) {
      if (text === '') continue;
      if ((JSON_FIELDS as readonly string[]).includes(name)) {
        try {
          value[name] = JSON.parse(text);
        } catch (err) {
          problems.push(`${name}: ${describeJsonError(err)}`);
        }
      } else if ((NUMBER_FIELDS as readonly string[]).includes(name)) {
        value[name] = JSON_NUMBER.test(text) ? Number(text) : text;
      } else value[name] = text;
    }
    return problems.length ? { error: problems.join('; ') } : { value };
  },
};

/** What a report says for a refused line: the error code, then each failing field as the 400/422 details name it. */
export function describeAppError(err: AppError): string {
  if (err.code === ErrorCode.ValidationFailed && err.details?.length) {
    const fields = err.details.map((d) =>
      d.field && !d.message.startsWith(d.field) ? `${d.field}: ${d.message}` : d.message,
    );
    return `${err.code}: ${fields.join('; ')}`;
  }
  return `${err.code}: ${err.message}`;
}

const SECRET_TEXT = /whsec_[A-Za-z0-9+/=]+/g;

/**
 * The raw text a report may show of a refused line: create takes no `secret` (a line carrying one
 * is refused as an unknown field), but a secret must never land in the report, so its value is masked.
 */
export function reportableRaw(record: ImportRecord): string {
  const raw =
    record.value && 'secret' in record.value ? JSON.stringify({ ...record.value, secret: '[redacted]' }) : record.raw;
  return raw.replace(SECRET_TEXT, 'whsec_[redacted]');
}

/**
 * Database errors that are the record's fault (a value PostgreSQL cannot store, a constraint): the
 * line is refused. Anything else (connection lost, deadlock) is the chunk's problem and is thrown.
 */
function isDataError(err: unknown): err is QueryFailedError {
  const code = err instanceof QueryFailedError ? (err.driverError as { code?: unknown }).code : undefined;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** Who a job's webhooks are created as: the job's creator, through the worker, in the job's tenant and app. */
export function bulkJobCaller(job: BulkJobEntity): Caller {
  return {
    kind: 'system',
    actor_id: job.created_by,
    orgs: [job.orgcode],
    permissions: [],
    app_id: job.app_id,
    orgcode: job.orgcode,
  };
}

const SAVEPOINT = 'bulk_webhook_line';

/**
 * Imports webhooks through `/webhook/create`'s path: each line is a create body, validated by the
 * app's validation pipe, then WebhooksService.createIn in the chunk's transaction (SSRF check,
 * event filters against the catalog, the tenant's cap, a fresh secret sealed at rest, the audit
 * row with the job as a source ref, `ipm.webhook.created`). Each line runs under a savepoint, so a
 * line the database refuses leaves the chunk going; a dry run rolls every line back to its savepoint
 * and counts its would-be webhooks against the cap. Secrets are never reported: the tenant gets
 * one with `/webhook/secret/rotate`, as the create response is not there to show it.
 */
@Injectable()
export class WebhookImport implements ImportTarget {
  readonly csv = WEBHOOK_CSV;

  constructor(private readonly webhooks: WebhooksService) {}

  async apply(em: EntityManager, job: BulkJobEntity, records: readonly ImportRecord[]): Promise<ChunkResult> {
    const caller = bulkJobCaller(job);
    const dryRun = job.options.dry_run === true;
    const errors: ReportEntry[] = [];
    let succeeded = 0;
    for (const record of records) {
      const refused = (error: string): void => {
        const raw = reportableRaw(record);
        // rawBytes tells the report the original was longer; a masked raw is not a cut one.
        errors.push({ line: record.line, error, raw, rawBytes: raw === record.raw ? record.rawBytes : undefined });
      };
      let request: WebhookCreateRequestDto;
      try {
        request = this.asImported(await parseWebhookCreateRequest(record.value ?? {}), job);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        refused(describeAppError(err));
        continue;
      }
      await em.query(`SAVEPOINT ${SAVEPOINT}`);
      try {
        // A dry run's earlier lines (this chunk's and the chunks before) count against the cap.
        await this.webhooks.createIn(em, caller, request, { pending: dryRun ? job.succeeded + succeeded : 0 });
        if (dryRun) await em.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
        succeeded++;
      } catch (err) {
        if (!(err instanceof AppError) && !isDataError(err)) throw err;
        await em.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
        refused(err instanceof AppError ? describeAppError(err) : `refused by the database: ${err.message}`);
      }
      await em.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
    }
    return { succeeded, errors };
  }

  /**
   * The create request as recorded for an import: its request_context must name the job's tenant
   * (as the api requires it to name x-orgcode); the audit row points at the job and says `import`.
   */
  private asImported(request: WebhookCreateRequestDto, job: BulkJobEntity): WebhookCreateRequestDto {
    const context = request.request_context;
    if (context?.orgcode !== undefined && context.orgcode !== job.orgcode) {
      throw AppError.badRequest(`request_context.orgcode must equal the job's orgcode`, 'request_context.orgcode');
    }
    return Object.assign(request, {
      request_context: { ...context, context_source: context?.context_source ?? 'import' },
      source_refs: [...(request.source_refs ?? []), { kind: 'bulk_job', id: job.job_id }],
    });
  }
}
