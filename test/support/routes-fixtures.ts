import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { CATALOG_FILES } from '@ipm/catalog';
import { insertAttempt, insertDelivery } from './deliveries';
import type { JsonObject, RouteFixtures } from './openapi-routes';
import { inject } from './routes-client';

export const FIXTURE_EVENT_TYPE = 'rfp.created';

/** The catalog specimen of rfp.created: a payload /event/publish accepts. */
export function rfpCreatedSpecimen(): JsonObject {
  const specimen = CATALOG_FILES.find((f) => f.service === 'rfp')?.event_types.find(
    (t) => t.action === 'created',
  )?.specimen;
  if (!specimen) throw new Error('the catalog has no rfp.created specimen');
  return structuredClone(specimen) as JsonObject;
}

/** Everything one tenant (or one app of it) owns, made through the api, with strings to look for in leaks. */
export interface TenantFixtures extends RouteFixtures {
  orgcode: string;
  app_id: string | null;
  /** Every id, name, URL, payload value and secret of these records: none may reach another tenant. */
  markers: string[];
  /** The API key (secret) made for `key_id`. */
  api_key: string;
  /** An `rfp.created` event of this tenant (its logical_guid carries a marker). */
  event_id: string;
}

export interface FixtureCaller {
  headers: Record<string, string>;
  orgcode: string;
  /** The app the records belong to (API keys bound to it make app-owned rows). */
  app_id?: string;
}

/** A created record as the fixtures read it: string fields by name. */
type Created = Record<string, string>;

async function post(
  app: NestFastifyApplication,
  caller: FixtureCaller,
  route: string,
  json: JsonObject,
): Promise<Created> {
  const res = await inject(app, {
    method: 'POST',
    url: `/ipm/${route}`,
    headers: { ...caller.headers, 'x-orgcode': caller.orgcode },
    json,
  });
  if (res.status !== 200) throw new Error(`fixture ${route}: ${res.status} ${res.raw.slice(0, 300)}`);
  return (res.body as { data: Created }).data;
}

/**
 * One record of every kind the routes take ids of, through the api (webhooks, an API key, bulk
 * jobs, a replay, a KPI snapshot and alert, a catalog type, an event) plus deliveries and an
 * attempt written straight to PostgreSQL (no worker runs here). `tag` makes every name unique.
 */
export async function createFixtures(
  app: NestFastifyApplication,
  caller: FixtureCaller,
  endpointOrigin: string,
  tag: string,
): Promise<TenantFixtures> {
  const db = app.get(DataSource);
  const appId = caller.app_id ?? null;
  const endpoint_url = `${endpointOrigin}/hooks/${tag}`;
  const catalog_service = `svc_${tag.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 64);
  const kpi_code = `KPI_${tag.replace(/[^A-Za-z0-9_]/g, '_')}`.slice(0, 100);
  const own: JsonObject = caller.app_id ? { app_id: caller.app_id } : {};
  // A KPI value of this fixture's own (a marker: no other fixture records it).
  const kpiValue = 4000 + ([...tag].reduce((sum, c) => sum * 31 + c.charCodeAt(0), 7) % 100_000) + 0.25;

  const hook = await post(app, caller, 'webhook/create', {
    endpoint_url,
    name: `hook-${tag}`,
    description: `description-${tag}`,
    headers: { 'X-Tag': `header-${tag}` },
    tags: [`tag-${tag}`],
    event_filters: [{ service: 'rfp', action: 'cancelled' }],
    timeout_ms: 1000, // /webhook/test waits for a worker at most this plus 2 s
    ...own,
  });
  const paused = await post(app, caller, 'webhook/create', { endpoint_url, name: `paused-${tag}`, ...own });
  await post(app, caller, 'webhook/status/set', {
    webhook_id: String(paused.webhook_id),
    status: 'paused',
    expected_revision: '1',
  });
  const doomed = await post(app, caller, 'webhook/create', { endpoint_url, name: `doomed-${tag}`, ...own });
  const webhook_id = String(hook.webhook_id);

  const failed = await insertDelivery(db, {
    orgcode: caller.orgcode,
    app_id: appId,
    webhook_id,
    status: 'failed',
    event_type: FIXTURE_EVENT_TYPE,
  });
  await insertAttempt(db, {
    delivery_id: failed,
    orgcode: caller.orgcode,
    webhook_id,
    attempt_no: 1,
    status_code: 500,
    outcome: 'failed',
    error: `attempt-error-${tag}`,
  });

  const key = await post(app, caller, 'apikey/create', {
    name: `key-${tag}`,
    permissions: ['view_kpis'],
    reason: `reason-${tag}`,
    ...own,
  });
  const job = await post(app, caller, 'bulk/import/create', { target: 'events', format: 'ndjson' });
  const jobToCancel = await post(app, caller, 'bulk/import/create', { target: 'kpis', format: 'csv' });
  const exportJob = await post(app, caller, 'bulk/export/create', { target: 'webhooks', format: 'ndjson' });
  const replay = await post(app, caller, 'webhook/replay', { webhook_id, reason: `replay-${tag}` });
  await post(app, caller, 'kpi/record', {
    kpi: { kpi_code, bucket: 'hourly', bucket_start: '2026-01-01T00:00:00Z', value: kpiValue },
  });
  await post(app, caller, 'kpi/alert', {
    alert: {
      kpi_code,
      bucket: 'hourly',
      bucket_start: '2026-01-01T00:00:00Z',
      threshold: { comparator: 'gt', value: 1 },
    },
  });
  await post(app, caller, 'event/catalog/upsert', {
    service: catalog_service,
    action: 'happened',
    description: `catalog-${tag}`,
    schema: { type: 'object', properties: { marker: { type: 'string' } } },
    specimen: { marker: `specimen-${tag}` },
  });
  const payload = { ...rfpCreatedSpecimen(), title: `payload-${tag}` };
  const published = await post(app, caller, 'event/publish', {
    events: [{ event_type: FIXTURE_EVENT_TYPE, payload, logical_guid: `guid-${tag}` }],
  });
  const items = published.items as unknown as Array<{ event_id: string }>;

  const jobCreated = job as unknown as { job?: { job_id: string }; job_id?: string };
  const exportCreated = exportJob as unknown as { job?: { job_id: string }; job_id?: string };
  const cancelCreated = jobToCancel as unknown as { job?: { job_id: string }; job_id?: string };
  const apiKey = key as unknown as { api_key?: { key_id: string }; key: string; key_id?: string };
  const replayCreated = replay as unknown as { replay?: { replay_id: string }; replay_id?: string };
  const f: TenantFixtures = {
    orgcode: caller.orgcode,
    app_id: appId,
    webhook_id,
    webhook_id_to_delete: String(doomed.webhook_id),
    paused_webhook_id: String(paused.webhook_id),
    delivery_id: failed,
    job_id: String(jobCreated.job?.job_id ?? jobCreated.job_id),
    export_job_id: String(exportCreated.job?.job_id ?? exportCreated.job_id),
    job_id_to_cancel: String(cancelCreated.job?.job_id ?? cancelCreated.job_id),
    replay_id: String(replayCreated.replay?.replay_id ?? replayCreated.replay_id),
    key_id: String(apiKey.api_key?.key_id ?? apiKey.key_id),
    api_key: apiKey.key,
    endpoint_url,
    event_type: FIXTURE_EVENT_TYPE,
    payload: rfpCreatedSpecimen(),
    catalog_service,
    kpi_code,
    event_id: items[0].event_id,
    markers: [],
  };
  f.markers = [
    f.webhook_id,
    f.webhook_id_to_delete,
    f.paused_webhook_id,
    `paused-${tag}`,
    f.delivery_id,
    f.job_id,
    f.job_id_to_cancel,
    f.export_job_id,
    f.replay_id,
    f.key_id,
    f.api_key,
    f.api_key.slice(0, 12),
    String(hook.secret),
    String(doomed.secret),
    f.event_id,
    catalog_service,
    kpi_code,
    `/hooks/${tag}`,
    `hook-${tag}`,
    `doomed-${tag}`,
    `description-${tag}`,
    `header-${tag}`,
    `tag-${tag}`,
    `attempt-error-${tag}`,
    `key-${tag}`,
    `reason-${tag}`,
    `replay-${tag}`,
    `catalog-${tag}`,
    `specimen-${tag}`,
    `payload-${tag}`,
    `guid-${tag}`,
    String(kpiValue),
  ];
  for (const m of f.markers)
    if (!m || m === 'undefined') throw new Error(`fixture marker missing: ${f.markers.join(', ')}`);
  return f;
}
