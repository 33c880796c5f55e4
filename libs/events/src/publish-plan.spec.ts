import type { EventTypeEntry } from '@ipm/catalog';
import { SchemaCompiler } from '@ipm/catalog';
import type { PublishEventDto } from './dto/publish.dto';
import type { PayloadVerdict } from '@ipm/catalog';
import { payloadsToValidate, planPublish, rejectionDetails, typesToLookUp } from './publish-plan';

const entry = (
  event_type: string,
  schema: Record<string, unknown>,
  deprecated_at: string | null = null,
): EventTypeEntry => {
  const [service, ...rest] = event_type.split('.');
  return {
    event_type,
    service,
    action: rest.join('.'),
    version: 1,
    description: '',
    deprecated_at,
    schema,
    specimen: {},
    source: 'platform',
  };
};
const cancelled = entry('rfp.cancelled', {
  type: 'object',
  additionalProperties: false,
  properties: { rfp_id: { type: 'string' }, buyer: { type: 'object', required: ['name'] } },
  required: ['rfp_id'],
});
const old = entry('rfp.legacy', { type: 'object' }, '2026-01-01T00:00:00Z');
const compiler = new SchemaCompiler();
let ids = 0;
const types = new Map([
  [cancelled.event_type, cancelled],
  [old.event_type, old],
]);
/** planPublish with each payload that needs it validated in place (CatalogRegistry.validateMany's results). */
const planOf = (items: readonly PublishEventDto[], cutOff: number[] = []) => {
  const verdicts = new Map<number, PayloadVerdict>(
    payloadsToValidate(items, types).map(({ index, entry: e, payload }) => [
      index,
      cutOff.includes(index) ? 'exceeded' : compiler.validate(e.event_type, e.schema, payload),
    ]),
  );
  return planPublish(items, {
    types,
    verdict: (index) => verdicts.get(index) ?? [],
    deadline: '50 ms',
    newEventId: () => `evt_${++ids}`,
  });
};
const item = (event_type: string, payload: Record<string, unknown>, extra: Partial<PublishEventDto> = {}) => ({
  event_type,
  payload,
  ...extra,
});

describe('planPublish', () => {
  beforeEach(() => (ids = 0));

  it('accepts valid items (deprecated types too) and gives id-less ones a new id', () => {
    const plan = planOf([
      item('rfp.cancelled', { rfp_id: 'R' }, { event_id: 'mine' }),
      item('rfp.legacy', { anything: 1 }),
    ]);
    expect(plan.verdicts).toEqual([
      { index: 0, event_id: 'mine', event_type: 'rfp.cancelled', status: 'accepted' },
      { index: 1, event_id: 'evt_1', event_type: 'rfp.legacy', status: 'accepted' },
    ]);
    expect(plan.accepted.map((a) => [a.index, a.event_id, a.entry.event_type])).toEqual([
      [0, 'mine', 'rfp.cancelled'],
      [1, 'evt_1', 'rfp.legacy'],
    ]);
  });

  it('rejects a payload that fails its schema with the validator’s message and path per failure', () => {
    const plan = planOf([item('rfp.cancelled', { rfp_id: 7, buyer: {}, extra: true })]);
    expect(plan.accepted).toEqual([]);
    const [v] = plan.verdicts;
    expect(v).toMatchObject({ index: 0, event_id: null, status: 'rejected', error: { code: 'invalid_payload' } });
    expect(v.error?.message).toMatch(/^payload does not match rfp\.cancelled v1: /);
    expect(v.error?.details).toEqual(
      expect.arrayContaining([
        { field: 'events.0.payload.rfp_id', path: '/rfp_id', message: 'must be string' },
        { field: 'events.0.payload.buyer', path: '/buyer', message: "must have required property 'name'" },
        { field: 'events.0.payload', path: '', message: 'must not have property "extra"' },
      ]),
    );
  });

  it('rejects an item whose validation was cut off at its deadline and keeps the others', () => {
    const p = planOf([item('rfp.cancelled', { rfp_id: 'A' }), item('rfp.cancelled', { rfp_id: 'B' })], [0]);
    expect(p.accepted.map((a) => a.index)).toEqual([1]);
    expect(p.verdicts[0]).toMatchObject({
      status: 'rejected',
      error: {
        code: 'validation_budget_exceeded',
        message: expect.stringMatching(/rfp\.cancelled v1 ran past its 50 ms deadline/),
        details: [{ field: 'events.0.payload' }],
      },
    });
  });

  it('validates only items with a known type', () => {
    const items = [item('rfp.nope', {}), item('ipm.webhook_created', {}), item('rfp.cancelled', { rfp_id: 'a\u0000' })];
    expect(payloadsToValidate([...items, item('rfp.legacy', {})], types).map((v) => v.index)).toEqual([2, 3]);
  });

  it('rejects unknown, malformed and platform (ipm.*) types', () => {
    const plan = planOf([
      item('rfp.nope', {}),
      item('NOT A TYPE', {}),
      item('ipm.apikey.created', {}),
      item('ipm', {}),
    ]);
    expect(plan.verdicts.map((v) => v.error?.code)).toEqual([
      'unknown_event_type',
      'unknown_event_type',
      'reserved_event_type',
      'unknown_event_type',
    ]);
    expect(plan.verdicts[0].error?.details).toEqual([
      { field: 'events.0.event_type', message: expect.stringContaining('"rfp.nope"') },
    ]);
  });

  it('rejects payloads PostgreSQL cannot store before the schema sees them', () => {
    const plan = planOf([item('rfp.cancelled', { rfp_id: 'a\u0000b' })]);
    expect(plan.verdicts[0].error?.details).toEqual([
      { field: 'events.0.payload.rfp_id', path: '/rfp_id', message: expect.stringContaining('NUL') },
    ]);
  });

  it('marks a repeat of an earlier accepted event_id as a duplicate; a rejected one does not count', () => {
    const plan = planOf([
      item('rfp.cancelled', {}, { event_id: 'x' }), // rejected: rfp_id missing
      item('rfp.cancelled', { rfp_id: '1' }, { event_id: 'x' }),
      item('rfp.cancelled', { rfp_id: '2' }, { event_id: 'x' }),
      item('rfp.cancelled', { rfp_id: '3' }, { event_id: 'y' }),
    ]);
    expect(plan.verdicts.map((v) => v.status)).toEqual(['rejected', 'accepted', 'duplicate', 'accepted']);
    expect(plan.accepted.map((a) => a.index)).toEqual([1, 3]);
  });

  it('rejectionDetails lists every item’s problems with its index', () => {
    const plan = planOf([item('rfp.nope', {}), item('rfp.cancelled', { rfp_id: 1 })]);
    expect(rejectionDetails(plan.verdicts)).toEqual([
      expect.objectContaining({ field: 'events.0.event_type', index: 0, code: 'unknown_event_type' }),
      expect.objectContaining({ field: 'events.1.payload.rfp_id', index: 1, code: 'invalid_payload', path: '/rfp_id' }),
    ]);
  });
});

describe('typesToLookUp', () => {
  it('names each well-formed, non-platform type once', () => {
    expect(
      typesToLookUp([
        item('rfp.created', {}),
        item('rfp.created', {}),
        item('billing.invoice.paid', {}),
        item('ipm.webhook.created', {}),
        item('Bad Type', {}),
        item('x\u0000.y', {}),
      ]),
    ).toEqual(['rfp.created', 'billing.invoice.paid']);
  });
});
