import type { JsonSchema } from '../catalog.types';
import type { ValidationFailure } from '../schema-compiler';
import type { SchemaProblem } from './schema-cost';

/** Validate a value against a tenant's schema, compiled once per key in each thread. */
export interface ValidateTask {
  kind: 'validate';
  key: string;
  schema: JsonSchema;
  value: unknown;
}

/** Check a schema offered at upsert: the cost model, then Ajv's meta-schema and compiler, then its specimen. */
export interface CheckTask {
  kind: 'check';
  schema: unknown;
  specimen: unknown;
}

export type ValidationTask = ValidateTask | CheckTask;

export type TaskResult =
  | { kind: 'valid' }
  | { kind: 'failures'; failures: ValidationFailure[] }
  /** The schema breaks the cost model. */
  | { kind: 'costly'; problems: SchemaProblem[] }
  /** The schema is not a JSON Schema Ajv can compile. */
  | { kind: 'invalid'; message: string }
  /** The task ran past the deadline (or exhausted the thread's memory) and was cut off. */
  | { kind: 'exceeded' };

export interface ThreadRequest {
  seq: number;
  tasks: ValidationTask[];
  /** Milliseconds the chunk may hold the thread: once past, the thread answers for the tasks it ran so far. */
  turnMs: number;
}

export interface ThreadResponse {
  seq: number;
  /** One per task run, in order; fewer than the tasks when the turn ended first (the rest wait for another turn). */
  results: TaskResult[];
}

/**
 * The watchdog slot each thread shares with the pool (a SharedArrayBuffer of three float64s): the index of the task
 * running, the Date.now() its current phase started at (0 when none runs), and the phase: compiling a schema
 * (bounded by the cost model, and cached per thread, so it gets COMPILE_DEADLINE_FACTOR times the deadline) or
 * running a validation.
 */
export const SLOT_TASK = 0;
export const SLOT_STARTED_AT = 1;
export const SLOT_PHASE = 2;
export const SLOT_BYTES = 24;
export const PHASE_COMPILE = 1;
export const PHASE_RUN = 2;
export const COMPILE_DEADLINE_FACTOR = 10;
