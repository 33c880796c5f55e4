import type { BulkJob, JobProducer } from '@ipm/queues';
import { assignBatches, batchJobId, DELIVERY_BATCH_SIZE, DeliveryScheduler, NewDelivery } from './delivery-scheduler';

const delivery = (n: number): NewDelivery => ({
  delivery_id: `dlv_${String(n).padStart(26, '0')}`,
  orgcode: 'acme',
  app_id: null,
  webhook_id: `whk_${n % 3}`,
  event_seq: String(n),
  event_id: `evt_${n}`,
  event_type: 'rfp.created',
  origin: 'event',
});

/** Records what would be enqueued (the queue itself is exercised by the e2e tests). */
function recordingScheduler(): { scheduler: DeliveryScheduler; added: BulkJob[][] } {
  const added: BulkJob[][] = [];
  const producer = { addBulk: (jobs: BulkJob[]) => Promise.resolve(added.push(jobs)) } as unknown as JobProducer;
  return { scheduler: new DeliveryScheduler(producer), added };
}

describe('delivery batches', () => {
  it('groups rows in order into batches of DELIVERY_BATCH_SIZE, each named after its first delivery', () => {
    const rows = Array.from({ length: DELIVERY_BATCH_SIZE * 2 + 1 }, (_, i) => delivery(i));
    assignBatches(rows);
    const ids = rows.map((r) => r.job_id);
    expect(new Set(ids).size).toBe(3);
    expect(ids.slice(0, DELIVERY_BATCH_SIZE)).toEqual(Array(DELIVERY_BATCH_SIZE).fill(batchJobId(rows[0].delivery_id)));
    expect(ids[DELIVERY_BATCH_SIZE * 2]).toBe(batchJobId(rows[DELIVERY_BATCH_SIZE * 2].delivery_id));
  });

  it('enqueues one delivery.batch job per job_id and one delivery.send job per row without one, in one call', async () => {
    const { scheduler, added } = recordingScheduler();
    const batched = Array.from({ length: 5 }, (_, i) => delivery(i));
    assignBatches(batched);
    const single = delivery(99);
    await scheduler.enqueue([...batched, single]);
    expect(added).toHaveLength(1);
    const jobs = added[0];
    expect(jobs.map((j) => [j.name, j.opts?.jobId])).toEqual([
      ['delivery.batch', batchJobId(batched[0].delivery_id)],
      ['delivery.batch', batchJobId(batched[4].delivery_id)],
      ['delivery.send', single.delivery_id],
    ]);
    expect(jobs[0].payload).toEqual({
      deliveries: batched.slice(0, 4).map((d) => ({ delivery_id: d.delivery_id, webhook_id: d.webhook_id })),
    });
    expect(jobs.every((j) => j.opts?.removeOnComplete === true && j.opts.attempts === 5)).toBe(true);
  });

  it('enqueues nothing for no rows', async () => {
    const { scheduler, added } = recordingScheduler();
    await scheduler.enqueue([]);
    expect(added).toEqual([]);
  });
});
