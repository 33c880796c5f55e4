import { AppError } from '@ipm/core';
import { parsePublishRequest } from './publish-request';

async function fieldsOf(body: unknown): Promise<string[]> {
  try {
    await parsePublishRequest(body);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(400);
    return [...new Set(((err as AppError).details ?? []).map((d) => d.field ?? ''))];
  }
  throw new Error('expected a 400');
}

describe('parsePublishRequest', () => {
  it('returns the DTO with the payloads as parsed (same objects, not copies)', async () => {
    const payload = { rfp_id: 'R', deep: { list: [1, { x: 2 }] } };
    const dto = await parsePublishRequest({
      events: [{ event_type: 'rfp.cancelled', payload, event_id: 'e-1', occurred_at: '2026-01-01T00:00:00Z' }],
      reason: 'sync',
    });
    expect(dto.reason).toBe('sync');
    expect(dto.events).toHaveLength(1);
    expect(dto.events[0].payload).toBe(payload);
    expect(dto.events[0]).toMatchObject({ event_type: 'rfp.cancelled', event_id: 'e-1' });
  });

  it('names the bad fields like the global pipe does', async () => {
    const ok = { event_type: 'rfp.cancelled', payload: {} };
    expect(await fieldsOf({})).toEqual(['events']);
    expect(await fieldsOf(null)).not.toHaveLength(0);
    expect(await fieldsOf({ events: [] })).toEqual(['events']);
    expect(await fieldsOf({ events: [ok, ok, ok, { event_type: 'x' }] })).toEqual(['events.3.payload']);
    expect(await fieldsOf({ events: [{ ...ok, payload: [] }] })).toEqual(['events.0.payload']);
    expect(await fieldsOf({ events: [{ ...ok, payload: 3 }] })).toEqual(['events.0.payload']);
    expect(await fieldsOf({ events: [{ ...ok, event_id: 'a b' }] })).toEqual(['events.0.event_id']);
    expect(await fieldsOf({ events: [{ ...ok, occurred_at: '2026-01-01T00:00:00' }] })).toEqual([
      'events.0.occurred_at',
    ]);
    expect(await fieldsOf({ events: [{ ...ok, surprise: 1 }] })).toEqual(['events.0.surprise']);
    expect(await fieldsOf({ events: [ok], surprise: 1 })).toEqual(['surprise']);
  });

  it('refuses more than 500 events before looking at them', async () => {
    const events = Array.from({ length: 501 }, () => ({ bogus: true }));
    await expect(parsePublishRequest({ events })).rejects.toMatchObject({
      status: 400,
      details: [{ field: 'events', message: 'events must contain no more than 500 elements' }],
    });
  });

  it('never walks a payload, however deep', async () => {
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    const dto = await parsePublishRequest({ events: [{ event_type: 'rfp.cancelled', payload: deep }] });
    expect(dto.events[0].payload).toBe(deep);
  });
});
