// The schema validation thread (a worker_threads Worker started by SchemaValidationPool). Tenant schemas are
// compiled and run here, never on an app's event loop; the pool terminates the thread when a task outlives its
// deadline. Imports stay relative (no @ipm/ aliases): the thread runs from its own bundle, or from source via ts-node.
import { parentPort, workerData } from 'node:worker_threads';
import type { JsonSchema } from '../catalog.types';
import { SchemaCompiler } from '../schema-compiler';
import { schemaCostProblems } from './schema-cost';
import {
  PHASE_COMPILE,
  PHASE_RUN,
  SLOT_PHASE,
  SLOT_STARTED_AT,
  SLOT_TASK,
  TaskResult,
  ThreadRequest,
  ThreadResponse,
  ValidationTask,
} from './validation.protocol';

const slot = new Float64Array((workerData as { slot: SharedArrayBuffer }).slot);
const compiler = new SchemaCompiler(1000);

function phase(which: number): void {
  slot[SLOT_PHASE] = which;
  slot[SLOT_STARTED_AT] = Date.now();
}

function check(schema: unknown, specimen: unknown): TaskResult {
  const problems = schemaCostProblems(schema);
  if (problems.length) return { kind: 'costly', problems };
  const fn = compiler.compileOnce(schema);
  if (typeof fn === 'string') return { kind: 'invalid', message: fn };
  try {
    phase(PHASE_RUN);
    const failures = compiler.failuresOf(fn, specimen);
    return failures.length ? { kind: 'failures', failures } : { kind: 'valid' };
  } finally {
    compiler.release(schema as JsonSchema);
  }
}

function run(task: ValidationTask): TaskResult {
  phase(PHASE_COMPILE);
  if (task.kind === 'check') return check(task.schema, task.specimen);
  const fn = compiler.validator(task.key, task.schema);
  phase(PHASE_RUN);
  const failures = compiler.failuresOf(fn, task.value);
  return failures.length ? { kind: 'failures', failures } : { kind: 'valid' };
}

// Ajv compiles its meta-schema on first use: pay for it before the first task's deadline runs.
check({ type: 'object', properties: { s: { type: 'string', pattern: '^a+$', format: 'email' } } }, { s: 'a@b.co' });

parentPort?.on('message', ({ seq, tasks, turnMs }: ThreadRequest) => {
  const turnStart = Date.now();
  const results: TaskResult[] = [];
  for (const [i, task] of tasks.entries()) {
    if (i > 0 && Date.now() - turnStart >= turnMs) break;
    slot[SLOT_TASK] = i;
    try {
      results.push(run(task));
    } catch (err) {
      // A schema Ajv cannot compile, or a stack overflow on a pathological schema or value.
      results.push(
        task.kind === 'validate'
          ? { kind: 'exceeded' }
          : { kind: 'invalid', message: err instanceof Error ? err.message : String(err) },
      );
    } finally {
      slot[SLOT_STARTED_AT] = 0;
    }
  }
  const response: ThreadResponse = { seq, results };
  parentPort?.postMessage(response);
});
