import { HttpStatus } from '@nestjs/common';

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `event_filters.0.service`; absent for whole-request problems. */
  field?: string;
  message: string;
  [key: string]: unknown;
}

export const ErrorCode = {
  ValidationFailed: 'validation_failed',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  NotFound: 'not_found',
  Conflict: 'conflict',
  RevisionMismatch: 'revision_mismatch',
  IllegalTransition: 'illegal_transition',
  PayloadTooLarge: 'payload_too_large',
  /** Node refused the request line and headers as too large (431), before any route ran. */
  HeadersTooLarge: 'headers_too_large',
  /** The request did not arrive within the server's time limit (408). */
  RequestTimeout: 'request_timeout',
  UnsupportedMediaType: 'unsupported_media_type',
  Unprocessable: 'unprocessable',
  /** A tenant's JSON Schema uses a feature whose validation cost is not bounded (refused at upsert). */
  SchemaTooCostly: 'schema_too_costly',
  /** Validating one value against a tenant's schema ran past its deadline and was cut off. */
  ValidationBudgetExceeded: 'validation_budget_exceeded',
  IdempotencyMismatch: 'idempotency_key_reused',
  IdempotencyInProgress: 'idempotency_key_in_progress',
  PreconditionRequired: 'precondition_required',
  RateLimited: 'rate_limited',
  MethodNotAllowed: 'method_not_allowed',
  Internal: 'internal_error',
  Unavailable: 'service_unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A domain error: an HTTP status, a stable machine code, a human message and optional details. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'AppError';
  }

  static validation(details: ErrorDetail[], message = 'The request is invalid'): AppError {
    return new AppError(HttpStatus.BAD_REQUEST, ErrorCode.ValidationFailed, message, details);
  }
  static badRequest(message: string, field?: string): AppError {
    return AppError.validation([{ field, message }], message);
  }
  static unauthorized(message = 'Missing or invalid credentials'): AppError {
    return new AppError(HttpStatus.UNAUTHORIZED, ErrorCode.Unauthorized, message);
  }
  static forbidden(message: string): AppError {
    return new AppError(HttpStatus.FORBIDDEN, ErrorCode.Forbidden, message);
  }
  static notFound(what: string): AppError {
    return new AppError(HttpStatus.NOT_FOUND, ErrorCode.NotFound, `${what} not found`);
  }
  static conflict(message: string, code: string = ErrorCode.Conflict, details?: ErrorDetail[]): AppError {
    return new AppError(HttpStatus.CONFLICT, code, message, details);
  }
  static unprocessable(message: string, details?: ErrorDetail[], code: string = ErrorCode.Unprocessable): AppError {
    return new AppError(HttpStatus.UNPROCESSABLE_ENTITY, code, message, details);
  }
  static preconditionRequired(message: string, field?: string): AppError {
    return new AppError(HttpStatus.PRECONDITION_REQUIRED, ErrorCode.PreconditionRequired, message, [
      { field, message },
    ]);
  }
}
