import { AppError, ErrorDetail } from '@ipm/core';
import type { EventTypeEntry } from '@ipm/catalog';
import type { EventFilter } from './entities/webhook.entity';

export const MAX_EVENT_FILTERS = 50;
export const UNKNOWN_EVENT_FILTER = 'unknown_event_type';

/**
 * True when a webhook with these filters receives events of `eventType` (`<service>.<action>`):
 * no filters means every event; otherwise one filter must name the service and, when it says
 * so, the exact action or a prefix of it. The one matcher: list filtering and the fan-out share it.
 */
export function matchesFilters(filters: readonly EventFilter[], eventType: string): boolean {
  if (filters.length === 0) return true;
  const dot = eventType.indexOf('.');
  if (dot <= 0 || dot === eventType.length - 1) return false;
  const service = eventType.slice(0, dot);
  const action = eventType.slice(dot + 1);
  return filters.some(
    (f) => f.service === service && (f.action ?? action) === action && action.startsWith(f.action_prefix ?? ''),
  );
}

/** The stored form: only the keys that are set, in a stable order. */
export function normalizeFilters(filters: readonly EventFilter[]): EventFilter[] {
  return filters.map((f) => ({
    service: f.service,
    ...(f.action != null ? { action: f.action } : {}),
    ...(f.action_prefix != null ? { action_prefix: f.action_prefix } : {}),
  }));
}

/**
 * Problems with `filters` against the tenant's catalog (platform and own types): an unknown
 * service, or an action that is no type of it. A prefix need not match a type yet (types are added later).
 */
export function unknownFilterDetails(
  filters: readonly EventFilter[],
  catalog: readonly EventTypeEntry[],
): ErrorDetail[] {
  const services = new Set(catalog.map((e) => e.service));
  const types = new Set(catalog.map((e) => e.event_type));
  const details: ErrorDetail[] = [];
  filters.forEach((f, i) => {
    if (!services.has(f.service)) {
      details.push({ field: `event_filters.${i}.service`, message: `unknown service ${f.service}` });
    } else if (f.action !== undefined && !types.has(`${f.service}.${f.action}`)) {
      details.push({ field: `event_filters.${i}.action`, message: `unknown event type ${f.service}.${f.action}` });
    }
  });
  return details;
}

/** The 422 for filters that name what the catalog does not know. */
export function unknownFiltersError(details: ErrorDetail[]): AppError {
  return AppError.unprocessable(
    `event_filters name unknown event types: ${details.map((d) => d.message).join('; ')}`,
    details,
    UNKNOWN_EVENT_FILTER,
  );
}
