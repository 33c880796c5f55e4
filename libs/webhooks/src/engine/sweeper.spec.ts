import { firstAttemptBatch, jobForDue } from './sweeper';

const row = (status: 'pending' | 'retrying' | 'in_flight', attempt_count: number, job_id: string | null = null) => ({
  delivery_id: 'dlv_A',
  webhook_id: 'whk_A',
  status,
  attempt_count,
  job_id,
});

describe('the job the sweeper expects for a due delivery', () => {
  it('pending: its own send job (id = delivery id), or first its batch job', () => {
    expect(jobForDue(row('pending', 0))).toMatchObject({ name: 'delivery.send', opts: { jobId: 'dlv_A' } });
    expect(jobForDue(row('pending', 0)).payload).toEqual({ delivery_id: 'dlv_A', webhook_id: 'whk_A' });
    expect(firstAttemptBatch(row('pending', 0, 'b.dlv_A'))).toBe('b.dlv_A');
  });

  it('retrying: the retry job of the next attempt', () => {
    expect(jobForDue(row('retrying', 2))).toMatchObject({ name: 'delivery.retry', opts: { jobId: 'dlv_A.a3' } });
    expect(jobForDue(row('retrying', 2)).payload).not.toHaveProperty('reclaim');
    expect(firstAttemptBatch(row('retrying', 2, 'b.dlv_A'))).toBeNull();
  });

  it('in_flight: the job of the attempt whose worker died', () => {
    expect(jobForDue(row('in_flight', 1, 'b.dlv_A'))).toMatchObject({
      name: 'delivery.send',
      opts: { jobId: 'dlv_A' },
    });
    expect(firstAttemptBatch(row('in_flight', 1, 'b.dlv_A'))).toBe('b.dlv_A');
    expect(jobForDue(row('in_flight', 3))).toMatchObject({ name: 'delivery.retry', opts: { jobId: 'dlv_A.a3' } });
    expect(firstAttemptBatch(row('in_flight', 3, 'b.dlv_A'))).toBeNull();
  });

  it('in_flight: the job may take the row over (reclaim), since its attempt was abandoned', () => {
    expect(jobForDue(row('in_flight', 1)).payload).toEqual({
      delivery_id: 'dlv_A',
      webhook_id: 'whk_A',
      reclaim: true,
    });
    expect(jobForDue(row('in_flight', 3)).payload).toEqual({
      delivery_id: 'dlv_A',
      webhook_id: 'whk_A',
      reclaim: true,
    });
  });
});
