import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { JsonSchema } from './catalog.types';

export interface ValidationFailure {
  /** JSON pointer into the payload, e.g. `/buyer/name` ('' for the root). */
  path: string;
  message: string;
}

function describe(errors: ErrorObject[] | null | undefined): ValidationFailure[] {
  return (errors ?? []).map((e) => {
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      message = `must not have property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    } else if (e.keyword === 'enum') {
      message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    }
    return { path: e.instancePath, message };
  });
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
    this.ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true, addUsedSchema: false });
    addFormats(this.ajv);
  }

  /** Why a schema is not a usable JSON Schema, or undefined when it is. */
  checkSchema(schema: unknown): string | undefined {
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'schema must be a JSON object';
    if (!this.ajv.validateSchema(schema))
      return `schema is not a valid JSON Schema: ${this.ajv.errorsText(this.ajv.errors)}`;
    try {
      this.ajv.compile(schema);
    } catch (err) {
      return `schema does not compile: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      this.ajv.removeSchema(schema); // Ajv keeps every compiled schema otherwise
    }
    return undefined;
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

  /** Validates with a schema used once (e.g. a specimen on upsert): compiled, used, forgotten. */
  validateOnce(schema: JsonSchema, value: unknown): ValidationFailure[] {
    const fn = this.ajv.compile(schema);
    try {
      return fn(value) ? [] : describe(fn.errors);
    } finally {
      this.ajv.removeSchema(schema);
    }
  }

  /** The failures of `value` against the schema (empty when valid). */
  validate(key: string, schema: JsonSchema, value: unknown): ValidationFailure[] {
    const fn = this.validator(key, schema);
    return fn(value) ? [] : describe(fn.errors);
  }
}
