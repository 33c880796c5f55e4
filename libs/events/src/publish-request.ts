import { AppError, createValidationPipe } from '@ipm/core';
import { PUBLISH_MAX_EVENTS, PublishRequestDto } from './dto/publish.dto';

const pipe = createValidationPipe();

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What class-transformer sees instead of a payload: same kind (object, array, scalar), no content. */
function stub(payload: unknown): unknown {
  if (Array.isArray(payload)) return [];
  return isPlainObject(payload) ? {} : payload;
}

/**
 * The publish body, validated with the DTOs by the app's one validation pipe (same 400s, same
 * field names), except that the payloads are kept out of class-transformer: it deep-copies every
 * nested object recursively, which costs as much as the rest of the request for 500 payloads and
 * overflows the stack on a hostile nesting (a 500 instead of a 400). Payloads are put back as
 * parsed and are checked by planPublish (schema, storability).
 */
export async function parsePublishRequest(body: unknown): Promise<PublishRequestDto> {
  const events: unknown = isPlainObject(body) ? body.events : undefined;
  if (!isPlainObject(body) || !Array.isArray(events)) {
    return (await pipe.transform(body, { type: 'body', metatype: PublishRequestDto })) as PublishRequestDto;
  }
  // Refuse an oversized batch before validating each of its items.
  if (events.length > PUBLISH_MAX_EVENTS) {
    throw AppError.validation([
      { field: 'events', message: `events must contain no more than ${PUBLISH_MAX_EVENTS} elements` },
    ]);
  }
  const items: unknown[] = events;
  const payloads = items.map((e) => (isPlainObject(e) ? e.payload : undefined));
  const skeleton = {
    ...body,
    events: items.map((e) => (isPlainObject(e) && 'payload' in e ? { ...e, payload: stub(e.payload) } : e)),
  };
  const dto = (await pipe.transform(skeleton, { type: 'body', metatype: PublishRequestDto })) as PublishRequestDto;
  dto.events.forEach((e, i) => {
    e.payload = payloads[i] as Record<string, unknown>;
  });
  return dto;
}
