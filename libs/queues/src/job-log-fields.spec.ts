import { jobLogFields } from './job-log-fields';

const job = (name: string, data: unknown, attemptsMade = 0) => ({
  id: 'j-1',
  name,
  queueName: 'delivery',
  attemptsMade,
  data,
});

describe('jobLogFields', () => {
  it('names the queue, the job and its attempt', () => {
    expect(jobLogFields(job('maintenance.idempotency_purge', {}, 2))).toEqual({
      queue: 'delivery',
      job_id: 'j-1',
      job_name: 'maintenance.idempotency_purge',
      job_attempt: 3,
    });
  });

  it("adds a delivery job's delivery and webhook ids", () => {
    expect(jobLogFields(job('delivery.send', { delivery_id: 'dlv_1', webhook_id: 'whk_1', reclaim: true }))).toEqual(
      expect.objectContaining({ delivery_id: 'dlv_1', webhook_id: 'whk_1' }),
    );
    expect(jobLogFields(job('delivery.send', { delivery_id: 'dlv_1' }))).not.toHaveProperty('reclaim');
  });

  it("counts a batch's deliveries, and names bulk and replay jobs", () => {
    expect(jobLogFields(job('delivery.batch', { deliveries: [{}, {}, {}] }))).toMatchObject({ delivery_count: 3 });
    expect(jobLogFields(job('bulk.run', { job_id: 'bjb_1' }))).toMatchObject({ bulk_job_id: 'bjb_1' });
    expect(jobLogFields(job('bulk.run', { job_id: 'bjb_1' }))).toMatchObject({ job_id: 'j-1' });
    expect(jobLogFields(job('replay.run', { replay_id: 'rpl_1' }))).toMatchObject({ replay_id: 'rpl_1' });
  });

  it('ignores payloads that are not objects, and ids that are not strings', () => {
    expect(Object.keys(jobLogFields(job('x', null)))).toEqual(['queue', 'job_id', 'job_name', 'job_attempt']);
    expect(jobLogFields(job('delivery.send', { delivery_id: 42 }))).not.toHaveProperty('delivery_id');
  });
});
