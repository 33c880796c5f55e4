import type { Job } from 'bullmq';

const ID_FIELDS = ['delivery_id', 'webhook_id', 'replay_id'] as const;

/**
 * What every record logged while a job runs carries: the queue, the job (id, name, attempt) and the ids
 * its payload names (`delivery_id` and `webhook_id`, `replay_id`; a bulk job's id as `bulk_job_id`). A
 * `delivery.batch` job carries several deliveries: their count here, and each one's ids around its own
 * attempt (the delivery executor binds them).
 */
export function jobLogFields(
  job: Pick<Job, 'id' | 'name' | 'queueName' | 'attemptsMade'> & { data: unknown },
): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    queue: job.queueName,
    job_id: job.id,
    job_name: job.name,
    job_attempt: job.attemptsMade + 1,
  };
  const data = job.data;
  if (data === null || typeof data !== 'object') return fields;
  const payload = data as Record<string, unknown>;
  for (const key of ID_FIELDS) if (typeof payload[key] === 'string') fields[key] = payload[key];
  if (job.name === 'bulk.run' && typeof payload.job_id === 'string') fields.bulk_job_id = payload.job_id;
  if (Array.isArray(payload.deliveries)) fields.delivery_count = payload.deliveries.length;
  return fields;
}
