import { ValidationPipe, ValidationError } from '@nestjs/common';
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
class RefusingProtoKeysValidationPipe extends ValidationPipe {
  protected override stripProtoKeys(value: unknown): void {
    const paths = protoKeyPaths(value);
    if (paths.length) {
      throw AppError.validation(
        paths.map((field) => ({
          field,
          message: `${field}: the keys __proto__, prototype and constructor are not accepted anywhere in a body`,
        })),
      );
    }
    super.stripProtoKeys(value);
  }
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
