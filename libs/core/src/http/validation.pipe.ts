import { ValidationPipe, ValidationError } from '@nestjs/common';
import { AppError, ErrorDetail } from '../errors';

function flatten(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({
      field,
      message: message.replace(/^property (\S+) should not exist$/, 'unknown field $1'),
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
