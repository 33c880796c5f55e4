import { ArgumentMetadata, ValidationPipe, ValidationError } from '@nestjs/common';
import { attachJsonDocuments, detachJsonDocuments } from '../dto/json-document';
import { AppError, ErrorDetail } from '../errors';

/** A property name as a path segment: an empty name (`{"": 1}` is valid JSON) is shown as `""`. */
const segment = (property: string): string => (property === '' ? '""' : property);

function flatten(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((e) => {
    const name = segment(e.property);
    const field = parent ? `${parent}.${name}` : name;
    const own = Object.values(e.constraints ?? {}).map((message) => ({
      field,
      message: /^property .* should not exist$/s.test(message) ? `unknown field ${name}` : message,
    }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** Details that name each bad field, one entry per problem. */
export function validationDetails(errors: ValidationError[]): ErrorDetail[] {
  return flatten(errors);
}

/** The keys Nest's ValidationPipe deletes from every object of a body (prototype pollution). */
const PROTO_KEYS = ['__proto__', 'prototype', 'constructor'] as const;

/**
 * Where `value` holds a key named `__proto__`, `prototype` or `constructor` (as dotted paths, at most
 * `limit`). Walks with its own stack, each object once.
 */
export function protoKeyPaths(value: unknown, limit = 20): string[] {
  const found: string[] = [];
  const seen = new WeakSet<object>();
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0 && found.length < limit) {
    const [current, path] = stack.pop()!;
    if (typeof current !== 'object' || current === null || seen.has(current) || ArrayBuffer.isView(current)) continue;
    seen.add(current);
    const join = (key: string): string => (path ? `${path}.${segment(key)}` : segment(key));
    if (!Array.isArray(current)) {
      for (const key of PROTO_KEYS) if (Object.hasOwn(current, key)) found.push(join(key));
    }
    for (const [key, inner] of Object.entries(current)) stack.push([inner, join(key)]);
  }
  return found.sort();
}

/**
 * Nest's pipe deletes `__proto__`, `prototype` and `constructor` keys anywhere in a body, silently
 * (a webhook header named `constructor` would vanish): refuse them instead, with a 400 naming each.
 */
/** Whether any object in `value` has a `__proto__`, `prototype` or `constructor` key: the cheap walk, no paths. */
export function hasProtoKeys(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current !== 'object' || current === null || ArrayBuffer.isView(current)) continue;
    if (Array.isArray(current)) {
      for (const inner of current) if (typeof inner === 'object' && inner !== null) stack.push(inner);
      continue;
    }
    for (const key of PROTO_KEYS) if (Object.hasOwn(current, key)) return true;
    for (const key in current) {
      const inner = (current as Record<string, unknown>)[key];
      if (typeof inner === 'object' && inner !== null) stack.push(inner);
    }
  }
  return false;
}

/**
 * Nest's pipe deletes `__proto__`, `prototype` and `constructor` keys anywhere in a body, silently
 * (a webhook header named `constructor` would vanish): refuse them instead, with a 400 naming each.
 * A body without them is walked once, without building paths; nothing is left to strip.
 */
class RefusingProtoKeysValidationPipe extends ValidationPipe {
  /**
   * Free-form JSON documents (`@JsonDocument()`: event payloads, schemas, specimens) are set aside while the rest of
   * the body is transformed and validated, and put back as they came: class-transformer would copy them value by
   * value, and their keys are data (a payload may have a `constructor` field).
   */
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const documents = metadata.metatype ? detachJsonDocuments(metadata.metatype, value) : [];
    try {
      const result: unknown = await super.transform(value, metadata);
      attachJsonDocuments(result, documents);
      return result;
    } finally {
      attachJsonDocuments(value, documents);
    }
  }

  protected override stripProtoKeys(value: unknown): void {
    if (!hasProtoKeys(value)) return;
    const paths = protoKeyPaths(value);
    throw AppError.validation(
      paths.map((field) => ({
        field,
        message: `${field}: the keys __proto__, prototype and constructor are not accepted anywhere in a body`,
      })),
    );
  }

  /** Bodies are parsed JSON, which cannot express a sparse array: there is no gap to close, no walk to make. */
  protected override closeArrayGaps(): void {}
}

/**
 * The one validation pipe: strips nothing silently (unknown fields are a 400, and so are the keys
 * `__proto__`, `prototype` and `constructor`), converts plain bodies to DTO instances, and reports
 * every bad field.
 */
export function createValidationPipe(): ValidationPipe {
  return new RefusingProtoKeysValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => AppError.validation(validationDetails(errors)),
  });
}
