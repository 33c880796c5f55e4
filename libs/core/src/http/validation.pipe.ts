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

/**
 * The one validation pipe: strips nothing silently (unknown fields are a 400), converts
 * plain bodies to DTO instances, and reports every bad field.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => AppError.validation(validationDetails(errors)),
  });
}
