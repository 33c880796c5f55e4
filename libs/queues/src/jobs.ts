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
  /** Deletes finished deliveries and attempts past DELIVERY_RETENTION_DAYS, in small batches (scheduled hourly). */
  'maintenance.delivery_retention': EmptyPayload;
  /** Deletes the files of bulk jobs past their `expires_at` and moves those jobs to `expired`, in batches (scheduled hourly). */
  'maintenance.bulk_expiry': EmptyPayload;
  /**
   * Rolls finished deliveries into each tenant's hourly platform KPIs (`ipm.deliveries.*`,
   * `ipm.delivery.*`): the last complete hour and the 2 before it (scheduled hourly), or only `hour`.
   */
  'maintenance.kpi_rollup': KpiRollupJob;
  /** The first attempt of a delivery (job id = delivery id). */
  'delivery.send': DeliveryJob;
  /** The first attempts of several deliveries of one fan-out (job id = `b.` + the first delivery id). */
  'delivery.batch': DeliveryBatchJob;
  /** A later attempt of a delivery (job id = `<delivery id>.a<attempt>`). */
  'delivery.retry': DeliveryJob;
  /** Runs a bulk import or export job from its checkpoint (job id = bulk job id). */
  'bulk.run': BulkRunJob;
  /** Walks a `/webhook/replay` window and creates its deliveries (job id = replay id). */
  'replay.run': ReplayJob;
}

/** A delivery job carries ids only: PostgreSQL holds the delivery, its event and its webhook. */
export interface DeliveryJob {
  delivery_id: string;
  /** For the per-endpoint in-flight cap, checked before the row is read. */
  webhook_id: string;
  /**
   * Set by the sweeper on a job for a delivery it found `in_flight` past its grace: that attempt was
   * abandoned (its worker died), so this job may claim the row again. Without it (and unless BullMQ
   * runs the job again after a stall or a failure), an `in_flight` row belongs to a live attempt elsewhere.
   */
  reclaim?: boolean;
}

/** Deliveries sent by one job: a BullMQ worker fetches jobs one Redis round trip at a time, so a fan-out burst is picked up in a few. */
export interface DeliveryBatchJob {
  deliveries: DeliveryJob[];
}

export interface KpiRollupJob {
  /** Only this hour (an ISO 8601 instant on the hour, e.g. `2026-01-01T10:00:00Z`), for a backfill; absent: the scheduled window. */
  hour?: string;
}

export interface BulkRunJob {
  job_id: string;
}

/**
 * How `bulk.run` is enqueued (by the api, and by the sweeper): a run that stops at a shutdown (after
 * its current chunk) throws so that BullMQ runs it again from the checkpoint; a few attempts also
 * cover a database that is briefly away. Past them, the sweeper re-enqueues a `queued` or `running`
 * job that no queue holds.
 */
export const BULK_RUN_JOB_OPTIONS = { attempts: 10, backoff: { type: 'exponential', delay: 2000 } } as const;

export interface ReplayJob {
  replay_id: string;
}

export type JobName = keyof JobPayloads;

/** The queue that carries each job. */
export const JOB_QUEUE: Readonly<Record<JobName, QueueName>> = {
  'maintenance.idempotency_purge': QueueName.Maintenance,
  'maintenance.delivery_retention': QueueName.Maintenance,
  'maintenance.bulk_expiry': QueueName.Maintenance,
  'maintenance.kpi_rollup': QueueName.Maintenance,
  'delivery.send': QueueName.Delivery,
  'delivery.batch': QueueName.Delivery,
  'delivery.retry': QueueName.Retry,
  'replay.run': QueueName.Replay,
  'bulk.run': QueueName.Bulk,
};

export const JOB_NAMES: readonly JobName[] = Object.keys(JOB_QUEUE) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.prototype.hasOwnProperty.call(JOB_QUEUE, name);
}
