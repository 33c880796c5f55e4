import { Injectable, Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test, TestingModule } from '@nestjs/testing';
import { type Job, UnrecoverableError } from 'bullmq';
import { JobHandler } from './job-handler.decorator';
import type { JobContext } from './job-handler.decorator';
import { JobHandlerConfigError, JobHandlerRegistry, UnknownJobError } from './job-handler.registry';
import type { EmptyPayload } from './jobs';

@Injectable()
class PurgeHandler {
  readonly calls: { payload: EmptyPayload; context: JobContext<'maintenance.idempotency_purge'> }[] = [];

  @JobHandler('maintenance.idempotency_purge')
  purge(payload: EmptyPayload, context: JobContext<'maintenance.idempotency_purge'>): Promise<string> {
    this.calls.push({ payload, context });
    return Promise.resolve('done');
  }
}

@Injectable()
class SecondPurgeHandler {
  @JobHandler('maintenance.idempotency_purge')
  purgeAgain(): Promise<void> {
    return Promise.resolve();
  }
}

/** Handles every other job, so that only the purge job's handlers vary between tests. */
@Injectable()
class OtherJobs {
  @JobHandler('maintenance.delivery_retention')
  retention(): Promise<void> {
    return Promise.resolve();
  }

  @JobHandler('maintenance.bulk_expiry')
  bulkExpiry(): Promise<void> {
    return Promise.resolve();
  }

  @JobHandler('maintenance.kpi_rollup')
  kpiRollup(): Promise<void> {
    return Promise.resolve();
  }

  @JobHandler('delivery.send')
  send(): Promise<void> {
    return Promise.resolve();
  }

  @JobHandler('delivery.batch')
  batch(): Promise<void> {
    return Promise.resolve();
  }

  @JobHandler('delivery.retry')
  retry(): Promise<void> {
    return Promise.resolve();
  }

  @JobHandler('replay.run')
  replay(): Promise<void> {
    return Promise.resolve();
  }

  @JobHandler('bulk.run')
  bulk(): Promise<void> {
    return Promise.resolve();
  }
}

@Injectable()
class NotAHandler {
  purge(): Promise<void> {
    return Promise.resolve();
  }
}

async function boot(providers: Provider[]) {
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule],
    providers: [JobHandlerRegistry, OtherJobs, ...providers],
  }).compile();
  await moduleRef.init(); // the registry checks the handlers in onModuleInit
  return moduleRef;
}

const job = (name: string, queueName: string, data: unknown = {}): Job =>
  ({ name, queueName, data, id: '1' }) as unknown as Job;

describe('JobHandlerRegistry', () => {
  it('refuses to start when a job has no handler, naming the job', async () => {
    const failure = boot([NotAHandler]);
    await expect(failure).rejects.toThrow(JobHandlerConfigError);
    await expect(failure).rejects.toThrow('job "maintenance.idempotency_purge" has no @JobHandler');
  });

  it('refuses to start when a job has two handlers, naming the job and both methods', async () => {
    const err: unknown = await boot([PurgeHandler, SecondPurgeHandler]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobHandlerConfigError);
    expect((err as Error).message).toMatch(/job "maintenance\.idempotency_purge" has 2 handlers/);
    expect((err as Error).message).toContain('PurgeHandler.purge');
    expect((err as Error).message).toContain('SecondPurgeHandler.purgeAgain');
    expect((err as JobHandlerConfigError).duplicated).toEqual({
      'maintenance.idempotency_purge': ['PurgeHandler.purge', 'SecondPurgeHandler.purgeAgain'],
    });
  });

  it('does not count an alias of a handler provider as a second handler', async () => {
    const moduleRef = await boot([PurgeHandler, { provide: 'PURGE_ALIAS', useExisting: PurgeHandler }]);
    expect(moduleRef.get(JobHandlerRegistry).handlerOf('maintenance.idempotency_purge')).toBe('PurgeHandler.purge');
    await moduleRef.close();
  });

  describe('with exactly one handler per job', () => {
    let moduleRef: TestingModule;
    let registry: JobHandlerRegistry;
    let handler: PurgeHandler;

    beforeAll(async () => {
      moduleRef = await boot([PurgeHandler, NotAHandler]);
      registry = moduleRef.get(JobHandlerRegistry);
      handler = moduleRef.get(PurgeHandler);
    });
    afterAll(() => moduleRef.close());

    it('starts, and dispatches a job to its handler with the payload, the job and the abort signal', async () => {
      const signal = new AbortController().signal;
      const purge = job('maintenance.idempotency_purge', 'maintenance');
      await expect(registry.dispatch(purge, signal)).resolves.toBe('done');
      expect(handler.calls).toEqual([{ payload: {}, context: { job: purge, signal } }]);
      expect(registry.handlerOf('maintenance.idempotency_purge')).toBe('PurgeHandler.purge');
    });

    it('fails an unknown job without retries, naming it', async () => {
      const failure = registry.dispatch(job('delivery.nonexistent', 'delivery'));
      await expect(failure).rejects.toBeInstanceOf(UnknownJobError);
      await expect(failure).rejects.toBeInstanceOf(UnrecoverableError);
      await expect(failure).rejects.toThrow('unknown job "delivery.nonexistent" on queue "delivery"');
    });

    it('fails a known job that arrived on the wrong queue', async () => {
      await expect(registry.dispatch(job('maintenance.idempotency_purge', 'delivery'))).rejects.toThrow(
        'job "maintenance.idempotency_purge" belongs on queue "maintenance", not "delivery"',
      );
    });
  });
});
