import { ACTION_PATTERN, SERVICE_PATTERN } from '@ipm/core';

/** A versioned catalog file in definitions/: one service and its event types. */
export interface CatalogFile {
  service: string;
  version: string;
  description: string;
  /** How exports of this service's stream are partitioned. */
  partitioning: Array<Record<string, string>>;
  event_types: CatalogFileType[];
}

export interface CatalogFileType {
  action: string;
  version: number;
  description: string;
  deprecated_at: string | null;
  schema: JsonSchema;
  specimen: unknown;
}

export type JsonSchema = Record<string, unknown>;

/** One event type as the platform knows it: shipped (`platform`) or added by a tenant. */
export interface EventTypeEntry {
  /** `<service>.<action>`, e.g. `rfp.status_changed`. */
  event_type: string;
  service: string;
  action: string;
  version: number;
  description: string;
  deprecated_at: string | null;
  schema: JsonSchema;
  specimen: unknown;
  source: 'platform' | 'tenant';
  /** Tenant types only. */
  revision?: number;
  /** Tenant types only: whose type it is. */
  orgcode?: string;
}

export const EVENT_TYPE_MAX = 200;

export function eventTypeName(service: string, action: string): string {
  return `${service}.${action}`;
}

/** `rfp.status_changed` -> service `rfp`, action `status_changed` (the service is the first segment). */
export function splitEventType(eventType: string): { service: string; action: string } | undefined {
  const dot = eventType.indexOf('.');
  if (dot <= 0) return undefined;
  const service = eventType.slice(0, dot);
  const action = eventType.slice(dot + 1);
  return SERVICE_PATTERN.test(service) && ACTION_PATTERN.test(action) ? { service, action } : undefined;
}
