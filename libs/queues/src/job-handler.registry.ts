import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { type Job, UnrecoverableError } from 'bullmq';
import { withLogFields } from '@ipm/core';
import { JOB_HANDLER_METADATA, JobContext } from './job-handler.decorator';
import { isJobName, JOB_NAMES, JOB_QUEUE, JobName } from './jobs';
import { jobLogFields } from './job-log-fields';

type BoundHandler = (payload: unknown, context: JobContext) => Promise<unknown>;

interface FoundHandler {
  /** `ClassName.method`, for error messages. */
  where: string;
  call: BoundHandler;
}

/** The handlers do not cover the jobs one to one: the worker must not start. */
export class JobHandlerConfigError extends Error {
  constructor(
    readonly missing: readonly JobName[],
    readonly duplicated: Readonly<Record<string, readonly string[]>>,
    readonly unknown: readonly string[],
  ) {
    const problems = [
      ...missing.map((name) => `job "${name}" has no @JobHandler`),
      ...Object.entries(duplicated).map(
        ([name, where]) => `job "${name}" has ${where.length} handlers (${where.join(', ')}); exactly one is allowed`,
      ),
      ...unknown.map((entry) => `${entry} handles a job that is not in JobPayloads`),
    ];
    super(`Job handlers are misconfigured:\n  - ${problems.join('\n  - ')}`);
    this.name = 'JobHandlerConfigError';
  }
}

/** A job this worker cannot run (no such job, or on the wrong queue): failing it again would not help. */
export class UnknownJobError extends UnrecoverableError {
  constructor(jobName: string, queueName: string) {
    const expected = isJobName(jobName) ? JOB_QUEUE[jobName] : undefined;
    super(
      expected
        ? `job "${jobName}" belongs on queue "${expected}", not "${queueName}"`
        : `unknown job "${jobName}" on queue "${queueName}": no such job in JobPayloads`,
    );
    this.name = 'UnknownJobError';
  }
}

/**
 * Finds every @JobHandler method on the application's providers when the modules initialise,
 * and throws (so the app does not start) unless each job has exactly one. The queue processors
 * then dispatch each job here by name.
 */
@Injectable()
export class JobHandlerRegistry implements OnModuleInit {
  private readonly logger = new Logger(JobHandlerRegistry.name);
  private handlers = new Map<string, FoundHandler>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    const found = this.discover();
    const missing = JOB_NAMES.filter((name) => !found.has(name));
    const duplicated: Record<string, string[]> = {};
    const unknown: string[] = [];
    for (const [name, handlers] of found) {
      if (!isJobName(name)) unknown.push(...handlers.map((h) => h.where));
      else if (handlers.length > 1) duplicated[name] = handlers.map((h) => h.where);
    }
    if (missing.length || unknown.length || Object.keys(duplicated).length) {
      throw new JobHandlerConfigError(missing, duplicated, unknown);
    }
    this.handlers = new Map([...found].map(([name, [handler]]) => [name, handler]));
    this.logger.log(`${this.handlers.size} job handler(s) registered`);
  }

  /** Which method handles a job (for logs and tests). */
  handlerOf(name: JobName): string | undefined {
    return this.handlers.get(name)?.where;
  }

  /** Runs a job's handler; an unknown job, or one on the wrong queue, fails without retries. */
  dispatch(job: Job, signal?: AbortSignal, token?: string): Promise<unknown> {
    const handler = this.handlers.get(job.name);
    if (!handler || JOB_QUEUE[job.name as JobName] !== job.queueName) {
      return Promise.reject(new UnknownJobError(job.name, job.queueName));
    }
    // Every record logged while the job runs carries the queue, the job and the ids its payload names.
    return withLogFields(jobLogFields(job), () =>
      handler.call(job.data, { job: job as JobContext['job'], signal, token }),
    );
  }

  private discover(): Map<string, FoundHandler[]> {
    const found = new Map<string, FoundHandler[]>();
    const seen = new Set<object>();
    for (const wrapper of this.discovery.getProviders()) {
      if (wrapper.isAlias) continue;
      if (!wrapper.isDependencyTreeStatic()) {
        // Request-scoped: there is no single instance to call, so a handler here is a mistake.
        const type: unknown = wrapper.metatype;
        const [first] = typeof type === 'function' ? this.handlerMethods(type.prototype as object) : [];
        if (first) throw new Error(`${first.where}: a @JobHandler must be on a singleton provider, not a scoped one`);
        continue;
      }
      const instance: unknown = wrapper.instance;
      if (instance === null || typeof instance !== 'object' || seen.has(instance)) continue;
      seen.add(instance);
      for (const { name, where, fn } of this.handlerMethods(Object.getPrototypeOf(instance) as object | null)) {
        found.set(name, [...(found.get(name) ?? []), { where, call: fn.bind(instance) }]);
      }
    }
    return found;
  }

  private handlerMethods(prototype: object | null): { name: string; where: string; fn: BoundHandler }[] {
    if (!prototype) return [];
    const className = (prototype.constructor as { name?: string } | undefined)?.name ?? 'anonymous';
    return this.scanner.getAllMethodNames(prototype).flatMap((method) => {
      const fn: unknown = (prototype as Record<string, unknown>)[method];
      if (typeof fn !== 'function') return [];
      const name = this.reflector.get<string | undefined>(JOB_HANDLER_METADATA, fn as BoundHandler);
      return name === undefined ? [] : [{ name, where: `${className}.${method}`, fn: fn as BoundHandler }];
    });
  }
}
