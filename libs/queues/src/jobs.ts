import { QueueName } from './queue-names';

/** A job that carries no data. */
export type EmptyPayload = Record<string, never>;

/**
 * Every job the platform runs, by name, with the payload it carries. Adding a job means adding
 * it here and to JOB_QUEUE; the worker then refuses to start until exactly one @JobHandler
 * handles it.
 */
export interface JobPayloads {
  /** Deletes expired Idempotency-Key records (scheduled hourly). */
  'maintenance.idempotency_purge': EmptyPayload;
}

export type JobName = keyof JobPayloads;

/** The queue that carries each job. */
export const JOB_QUEUE: Readonly<Record<JobName, QueueName>> = {
  'maintenance.idempotency_purge': QueueName.Maintenance,
};

export const JOB_NAMES: readonly JobName[] = Object.keys(JOB_QUEUE) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.prototype.hasOwnProperty.call(JOB_QUEUE, name);
}
