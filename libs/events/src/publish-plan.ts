import type { ErrorDetail } from '@ipm/core';
import { EventTypeEntry, splitEventType } from '@ipm/catalog';
import type { PayloadVerdict } from '@ipm/catalog';
import { dottedPath, failuresText, ValidationFailure } from '@ipm/catalog';
import { ErrorCode } from '@ipm/core';
import type { PublishEventDto, PublishItemStatus } from './dto/publish.dto';
import { payloadProblem } from './payload-guard';

/** The service of our own events: only the platform publishes them. */
export const PLATFORM_EVENT_SERVICE = 'ipm';

export const PublishErrorCode = {
  UnknownEventType: 'unknown_event_type',
  ReservedEventType: 'reserved_event_type',
  InvalidPayload: 'invalid_payload',
  ValidationBudgetExceeded: ErrorCode.ValidationBudgetExceeded,
} as const;

export interface ItemError {
  code: string;
  message: string;
  details: ErrorDetail[];
}

/** An item that passed every check, ready to store. */
export interface AcceptedItem {
  index: number;
  event_id: string;
  entry: EventTypeEntry;
  item: PublishEventDto;
}

export interface ItemVerdict {
  index: number;
  event_id: string | null;
  event_type: string;
  status: PublishItemStatus | 'accepted';
  error?: ItemError;
}

export interface PublishPlan {
  /** One per request item, in order; `accepted` ones become `stored` or `duplicate` after the insert. */
  verdicts: ItemVerdict[];
  accepted: AcceptedItem[];
}

export interface PlanDeps {
  /** The catalog entries of the batch's types (CatalogRegistry.findMany). */
  types: ReadonlyMap<string, EventTypeEntry>;
  /** The verdict on item `index`'s payload (CatalogRegistry.validateMany over payloadsToValidate). */
  verdict: (index: number) => PayloadVerdict;
  /** The validation deadline, as the cut-off message states it (e.g. `50 ms`). */
  deadline: string;
  newEventId: () => string;
}

function payloadErrors(index: number, failures: ValidationFailure[], entry: EventTypeEntry): ItemError {
  return {
    code: PublishErrorCode.InvalidPayload,
    message: `payload does not match ${entry.event_type} v${entry.version}: ${failuresText(failures)}`,
    details: failures.map((f) => ({
      field: `events.${index}.payload${dottedPath(f.path)}`,
      path: f.path,
      message: f.message,
    })),
  };
}

function cutOff(index: number, entry: EventTypeEntry, deadline: string): ItemError {
  const message = `validating the payload against ${entry.event_type} v${entry.version} ran past its ${deadline} deadline and was cut off: simplify the schema or the payload`;
  return {
    code: PublishErrorCode.ValidationBudgetExceeded,
    message,
    details: [{ field: `events.${index}.payload`, message }],
  };
}

/**
 * The items whose payloads need their schema: a known, unreserved type. An unstorable payload (planPublish refuses
 * it) is validated too, rather than walked twice.
 */
export function payloadsToValidate(
  items: readonly PublishEventDto[],
  types: ReadonlyMap<string, EventTypeEntry>,
): Array<{ index: number; entry: EventTypeEntry; payload: unknown }> {
  const out: Array<{ index: number; entry: EventTypeEntry; payload: unknown }> = [];
  items.forEach((item, index) => {
    const parts = splitEventType(item.event_type);
    const entry = parts && parts.service !== PLATFORM_EVENT_SERVICE ? types.get(item.event_type) : undefined;
    if (entry) out.push({ index, entry, payload: item.payload });
  });
  return out;
}

/** The types a batch must look up in the catalog (well-formed, not reserved). */
export function typesToLookUp(items: readonly PublishEventDto[]): string[] {
  const types = new Set<string>();
  for (const item of items) {
    const parts = splitEventType(item.event_type);
    if (parts && parts.service !== PLATFORM_EVENT_SERVICE) types.add(item.event_type);
  }
  return [...types];
}

/**
 * The verdict on each item of a publish batch, with no I/O: reserved or unknown types and
 * payloads that fail their schema are rejected (with the validator's message and path); a
 * repeat of an earlier accepted item's event_id is a duplicate. Deprecated types are accepted.
 */
export function planPublish(items: readonly PublishEventDto[], deps: PlanDeps): PublishPlan {
  const verdicts: ItemVerdict[] = [];
  const accepted: AcceptedItem[] = [];
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const reject = (error: ItemError): void => {
      verdicts.push({ index, event_id: item.event_id ?? null, event_type: item.event_type, status: 'rejected', error });
    };
    const field = `events.${index}.event_type`;
    const parts = splitEventType(item.event_type);
    if (parts?.service === PLATFORM_EVENT_SERVICE) {
      const message = `${item.event_type} is a platform event type: only IPM publishes ${PLATFORM_EVENT_SERVICE}.* events`;
      return reject({ code: PublishErrorCode.ReservedEventType, message, details: [{ field, message }] });
    }
    const entry = parts ? deps.types.get(item.event_type) : undefined;
    if (!entry) {
      const message = `unknown event type "${item.event_type}": it is not in this tenant's catalog`;
      return reject({ code: PublishErrorCode.UnknownEventType, message, details: [{ field, message }] });
    }
    const problem = payloadProblem(item.payload);
    if (problem) return reject(payloadErrors(index, [problem], entry));
    const verdict = deps.verdict(index);
    if (verdict === 'exceeded') return reject(cutOff(index, entry, deps.deadline));
    if (verdict.length) return reject(payloadErrors(index, verdict, entry));

    const event_id = item.event_id ?? deps.newEventId();
    if (seen.has(event_id)) {
      verdicts.push({ index, event_id, event_type: item.event_type, status: 'duplicate' });
      return;
    }
    seen.add(event_id);
    verdicts.push({ index, event_id, event_type: item.event_type, status: 'accepted' });
    accepted.push({ index, event_id, entry, item });
  });
  return { verdicts, accepted };
}

/** The 422's details when every item was rejected: each item's problems, with its index. */
export function rejectionDetails(verdicts: readonly ItemVerdict[]): ErrorDetail[] {
  return verdicts.flatMap((v) =>
    (v.error?.details ?? []).map((d) => ({ ...d, index: v.index, code: v.error?.code, event_type: v.event_type })),
  );
}
