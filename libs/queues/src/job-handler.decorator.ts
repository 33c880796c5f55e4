import { SetMetadata } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { JobName, JobPayloads } from './jobs';

export const JOB_HANDLER_METADATA = 'ipm:job-handler';

export interface JobContext<N extends JobName = JobName> {
  job: Job<JobPayloads[N], unknown, N>;
  /** Aborted when the worker gives up waiting for the job at shutdown; long handlers should honour it. */
  signal?: AbortSignal;
  /** The worker's lock token for the job (needed to move it to delayed, e.g. when an endpoint is at its cap). */
  token?: string;
}

/** What a handler method looks like: the payload first, the BullMQ job and abort signal after. */
export type JobHandlerFn<N extends JobName> = (payload: JobPayloads[N], context: JobContext<N>) => Promise<unknown>;

export type JobHandlerDecorator<N extends JobName> = <F extends JobHandlerFn<N>>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<F>,
) => void;

/**
 * Marks a provider method as the handler of one job. The method's signature is checked
 * against the job's payload type; JobHandlerRegistry checks at boot that every job has
 * exactly one handler.
 */
export function JobHandler<N extends JobName>(name: N): JobHandlerDecorator<N> {
  return (target, key, descriptor) => {
    SetMetadata(JOB_HANDLER_METADATA, name)(target, key, descriptor);
  };
}
