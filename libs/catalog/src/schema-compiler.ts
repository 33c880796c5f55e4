import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { JsonSchema } from './catalog.types';
import { linearRegExp } from './validation/schema-cost';

/** Failures reported per value: a schema with `allErrors` can find one per item of a large array. */
export const MAX_FAILURES = 50;

export interface ValidationFailure {
  /** JSON pointer into the payload, e.g. `/buyer/name` ('' for the root). */
  path: string;
  message: string;
}

function describe(errors: ErrorObject[] | null | undefined): ValidationFailure[] {
  return (errors ?? []).slice(0, MAX_FAILURES).map((e) => {
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      message = `must not have property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    } else if (e.keyword === 'enum') {
      const allowed = JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues);
      message = `must be one of ${allowed.length > 200 ? `${allowed.slice(0, 200)}…` : allowed}`;
    }
    return { path: e.instancePath, message };
  });
}

/** A JSON pointer as a dotted field suffix: `/buyer/a~1b` -> `.buyer.a/b` ('' for the root). */
export function dottedPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => `.${s.replace(/~1/g, '/').replace(/~0/g, '~')}`)
    .join('');
}

export function failuresText(failures: ValidationFailure[]): string {
  return failures.map((f) => `${f.path || '/'} ${f.message}`).join('; ');
}

/**
 * Compiles JSON Schemas once and keeps them: a schema is compiled the first time its key is
 * seen (a type at a version or revision), never per event.
 */
export class SchemaCompiler {
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(private readonly maxEntries = 5000) {
    // Patterns run on RE2 (linear in the input: no pattern can backtrack); multipleOf tolerates float rounding
    // (0.3 is a multiple of 0.1).
    this.ajv = new Ajv({
      allErrors: true,
      strict: false,
      validateFormats: true,
      addUsedSchema: false,
      multipleOfPrecision: 9,
      // Large enums and required lists as loops, not chains of comparisons (compile cost).
      loopEnum: 32,
      loopRequired: 32,
      code: { regExp: linearRegExp },
    });
    addFormats(this.ajv);
  }

  /** Why a schema is not a usable JSON Schema, or undefined when it is. */
  checkSchema(schema: unknown): string | undefined {
    const compiled = this.compileOnce(schema);
    if (typeof compiled === 'string') return compiled;
    this.release(compiled.schema as JsonSchema);
    return undefined;
  }

  /**
   * Compiles a schema used once (an upsert's check), or says why it is not a usable JSON Schema. Call release()
   * with the schema once done: Ajv keeps every compiled schema otherwise.
   */
  compileOnce(schema: unknown): ValidateFunction | string {
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'schema must be a JSON object';
    if (!this.ajv.validateSchema(schema))
      return `schema is not a valid JSON Schema: ${this.ajv.errorsText(this.ajv.errors)}`;
    try {
      return this.ajv.compile(schema);
    } catch (err) {
      this.release(schema as JsonSchema);
      return `schema does not compile: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  release(schema: JsonSchema): void {
    this.ajv.removeSchema(schema);
  }

  /** The failures of `value` against a compiled schema (empty when valid). */
  failuresOf(fn: ValidateFunction, value: unknown): ValidationFailure[] {
    return fn(value) ? [] : describe(fn.errors);
  }

  validator(key: string, schema: JsonSchema): ValidateFunction {
    let fn = this.cache.get(key);
    if (!fn) {
      fn = this.ajv.compile(schema);
      if (this.cache.size >= this.maxEntries) {
        const [oldestKey, oldest] = this.cache.entries().next().value as [string, ValidateFunction];
        this.ajv.removeSchema(oldest.schema);
        this.cache.delete(oldestKey);
      }
      this.cache.set(key, fn);
    }
    return fn;
  }

  /** The failures of `value` against the schema (empty when valid). */
  validate(key: string, schema: JsonSchema, value: unknown): ValidationFailure[] {
    const fn = this.validator(key, schema);
    return fn(value) ? [] : describe(fn.errors);
  }
}
