import { AppError } from '@ipm/core';
import type { WebhookEntity } from '../entities/webhook.entity';
import { FINISHED_STATUSES, requireActive, RETRYABLE_STATUSES } from './deliveries.service';
import { toReplayDto } from './replays.service';
import type { WebhookReplayEntity } from '../entities/webhook-replay.entity';

describe('delivery states used by the routes', () => {
  it('finished = the terminal states of the delivery machine; retry starts only from failures', () => {
    expect([...FINISHED_STATUSES].sort()).toEqual(['dead_letter', 'failed', 'success']);
    expect(RETRYABLE_STATUSES).toEqual(['failed', 'dead_letter']);
  });
});

describe('requireActive', () => {
  const webhook = (status: WebhookEntity['status']) => ({ status }) as WebhookEntity;

  it('lets an active webhook through', () => {
    expect(() => requireActive(webhook('active'))).not.toThrow();
  });

  it.each(['paused', 'disabled'] as const)('a %s webhook: 422 naming the state', (status) => {
    const err = captured(() => requireActive(webhook(status)));
    expect(err).toMatchObject({ status: 422, code: 'unprocessable' });
    expect(err.message).toContain(status);
  });

  it('a deleted (missing) webhook: 422', () => {
    expect(captured(() => requireActive(null))).toMatchObject({ status: 422 });
  });
});

describe('toReplayDto', () => {
  const replay = (status: WebhookReplayEntity['status']): WebhookReplayEntity => ({
    replay_id: 'rpl_01JD3V5T0K6Z8Q9W2X4Y7B1C3E',
    orgcode: 'acme',
    webhook_id: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E',
    window_after: null,
    window_before: new Date('2026-01-01T00:00:00Z'),
    only_failed: false,
    status,
    cursor: null,
    events_matched: 3,
    error: null,
    created_by: 'u',
    created_at: new Date('2026-01-01T00:00:00Z'),
    updated_at: new Date('2026-01-01T00:00:00Z'),
    finished_at: null,
  });

  it('counts from the deliveries; done only when completed with nothing pending', () => {
    expect(toReplayDto(replay('completed'), { total: 3, delivered: 1, failed: 1 })).toMatchObject({
      events_matched: 3,
      delivered: 1,
      failed: 1,
      pending: 1,
      done: false,
      after: null,
      before: '2026-01-01T00:00:00.000Z',
    });
    expect(toReplayDto(replay('completed'), { total: 3, delivered: 2, failed: 1 })).toMatchObject({
      pending: 0,
      done: true,
    });
    expect(toReplayDto(replay('running'), { total: 2, delivered: 2, failed: 0 })).toMatchObject({ done: false });
  });
});

function captured(fn: () => void): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}
