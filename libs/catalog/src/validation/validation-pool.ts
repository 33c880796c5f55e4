import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  COMPILE_DEADLINE_FACTOR,
  PHASE_COMPILE,
  SLOT_BYTES,
  SLOT_PHASE,
  SLOT_STARTED_AT,
  SLOT_TASK,
  TaskResult,
  ThreadRequest,
  ThreadResponse,
  ValidationTask,
} from './validation.protocol';

export interface ValidationPoolOptions {
  /** Threads (each one core at most). */
  threads: number;
  /**
   * Wall-clock milliseconds one validation may run before its thread is terminated and the task cut off (compiling
   * a schema, once per thread, gets COMPILE_DEADLINE_FACTOR times as long).
   */
  deadlineMs: number;
  /** Heap of each thread, in MiB: a schema or value that needs more is cut off like a slow one. */
  heapMb?: number;
  /** Told when a thread fails outside a task's deadline (it could not start, or crashed). */
  onThreadError?: (err: Error) => void;
}

/** Tasks sent to a thread in one message: a tenant's turn, which also ends after the deadline's worth of time. */
const CHUNK = 32;

interface Pending {
  task: ValidationTask;
  resolve: (result: TaskResult) => void;
}

interface Thread {
  worker: Worker;
  slot: Float64Array;
  /** The chunk it is running, when busy. */
  running?: { seq: number; tenant: string; chunk: Pending[] };
  dead: boolean;
}

/** The thread's entry: beside the app's bundle once built (webpack.config.js), else the TypeScript source. */
function spawn(slot: SharedArrayBuffer, heapMb: number): Worker {
  const options = {
    workerData: { slot },
    resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    stdout: false,
    stderr: false,
  };
  const built = join(__dirname, 'schema-validation.thread.js');
  if (existsSync(built)) return new Worker(built, options);
  const source = join(__dirname, 'validation.thread.ts');
  const project = join(__dirname, '../../../../tsconfig.json');
  const code = `require('ts-node').register({ transpileOnly: true, project: ${JSON.stringify(project)} }); require(${JSON.stringify(source)});`;
  return new Worker(code, { ...options, eval: true });
}

/**
 * Runs tenant schema work on worker threads, so that no schema or payload can hold an app's event loop: each task
 * has a deadline, and the thread running one that outlives it is terminated (the task's result is `exceeded`, the
 * other tasks of its chunk run again on a fresh thread). Tenants take turns, each turn at most CHUNK tasks and about
 * one deadline long, so one tenant's slow batch delays another's by about two deadlines at most. Threads start on
 * first use.
 */
export class SchemaValidationPool {
  private readonly queues = new Map<string, Pending[]>();
  private readonly threads: Thread[] = [];
  private watchdog?: NodeJS.Timeout;
  private seq = 0;
  private closed = false;
  /** Tasks cut off since start. */
  exceeded = 0;

  constructor(private readonly options: ValidationPoolOptions) {}

  /** Runs the tasks of one tenant; resolves with one result per task, in order. */
  run(tenant: string, tasks: readonly ValidationTask[]): Promise<TaskResult[]> {
    if (this.closed) return Promise.reject(new Error('the schema validation pool is closed'));
    if (!tasks.length) return Promise.resolve([]);
    const queue = this.queues.get(tenant) ?? [];
    const results = tasks.map((task) => new Promise<TaskResult>((resolve) => queue.push({ task, resolve })));
    this.queues.set(tenant, queue);
    this.dispatch();
    return Promise.all(results);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    const threads = this.threads.splice(0);
    for (const thread of threads) {
      thread.dead = true;
      for (const p of thread.running?.chunk ?? []) p.resolve({ kind: 'exceeded' });
    }
    for (const queue of this.queues.values()) for (const p of queue) p.resolve({ kind: 'exceeded' });
    this.queues.clear();
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queues.size) {
      const thread = this.idleThread();
      if (!thread) return;
      // The first tenant in the map is the next in turn; it goes to the back if it has more.
      const [tenant, queue] = this.queues.entries().next().value as [string, Pending[]];
      this.queues.delete(tenant);
      const chunk = queue.splice(0, CHUNK);
      if (queue.length) this.queues.set(tenant, queue);
      const seq = ++this.seq;
      thread.running = { seq, tenant, chunk };
      const request: ThreadRequest = { seq, tasks: chunk.map((p) => p.task), turnMs: this.options.deadlineMs };
      try {
        thread.worker.postMessage(request);
      } catch {
        // A value the structured clone refuses (too deep): cut off like a task that ran too long.
        thread.running = undefined;
        this.exceeded += chunk.length;
        for (const p of chunk) p.resolve({ kind: 'exceeded' });
        continue;
      }
      this.armWatchdog();
    }
  }

  private idleThread(): Thread | undefined {
    const idle = this.threads.find((t) => !t.running && !t.dead);
    if (idle) return idle;
    if (this.threads.length >= this.options.threads) return undefined;
    const buffer = new SharedArrayBuffer(SLOT_BYTES);
    const worker = spawn(buffer, this.options.heapMb ?? 128);
    const thread: Thread = { worker, slot: new Float64Array(buffer), dead: false };
    worker.unref();
    worker.on('message', (response: ThreadResponse) => this.finished(thread, response));
    worker.on('error', (err) => {
      if (thread.slot[SLOT_STARTED_AT] === 0) this.options.onThreadError?.(err);
      this.cutOff(thread);
    });
    worker.on('exit', () => this.cutOff(thread));
    this.threads.push(thread);
    return thread;
  }

  private finished(thread: Thread, { seq, results }: ThreadResponse): void {
    const running = thread.running;
    if (!running || running.seq !== seq || thread.dead) return;
    thread.running = undefined;
    results.forEach((result, i) => running.chunk[i].resolve(result));
    this.requeue(running.tenant, running.chunk.slice(results.length));
    this.dispatch();
  }

  /**
   * Ends a thread that ran past the deadline, ran out of memory or died: the task it was running is cut off, the
   * rest of its chunk goes back to the front of the tenant's queue.
   */
  private cutOff(thread: Thread): void {
    if (thread.dead) return;
    thread.dead = true;
    this.threads.splice(this.threads.indexOf(thread), 1);
    void thread.worker.terminate();
    const running = thread.running;
    thread.running = undefined;
    if (running) {
      const culprit = thread.slot[SLOT_STARTED_AT] > 0 ? thread.slot[SLOT_TASK] : 0;
      this.exceeded++;
      running.chunk[culprit]?.resolve({ kind: 'exceeded' });
      this.requeue(
        running.tenant,
        running.chunk.filter((_, i) => i !== culprit),
      );
    }
    if (!this.closed) this.dispatch();
  }

  /** Tasks that did not run in their turn go first in the tenant's queue, which waits for its next turn. */
  private requeue(tenant: string, tasks: Pending[]): void {
    if (tasks.length) this.queues.set(tenant, [...tasks, ...(this.queues.get(tenant) ?? [])]);
  }

  private armWatchdog(): void {
    if (this.watchdog) return;
    const every = Math.max(5, Math.floor(this.options.deadlineMs / 5));
    this.watchdog = setInterval(() => {
      const now = Date.now();
      for (const thread of [...this.threads]) {
        const startedAt = thread.slot[SLOT_STARTED_AT];
        const limit =
          this.options.deadlineMs * (thread.slot[SLOT_PHASE] === PHASE_COMPILE ? COMPILE_DEADLINE_FACTOR : 1);
        if (thread.running && startedAt > 0 && now - startedAt > limit) this.cutOff(thread);
      }
      if (!this.threads.some((t) => t.running)) {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
      }
    }, every);
    this.watchdog.unref();
  }
}
