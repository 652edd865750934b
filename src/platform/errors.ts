/** One invalid input field, as reported in a problem document's `errors` list. */
export interface FieldError {
  /** JSON path of the field, dot-separated (`names.0.family`). */
  path: string
  message: string
}

/**
 * Base of every error the registry reports to a client. `code` is a stable, upper-snake
 * identifier that is part of the API contract; `status` is the HTTP status it maps to.
 */
export class AppError extends Error {
  override name = 'AppError'
  readonly status: number
  readonly code: string
  readonly fieldErrors: readonly FieldError[]
  /** Extra members copied into the problem document (fresh values for a 409, say). */
  readonly extensions: Readonly<Record<string, unknown>>

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      cause?: unknown
      fieldErrors?: readonly FieldError[]
      extensions?: Record<string, unknown>
    } = {},
  ) {
    super(message, { cause: options.cause })
    this.status = status
    this.code = code
    this.fieldErrors = options.fieldErrors ?? []
    this.extensions = options.extensions ?? {}
  }
}

/** The request is malformed or a field is invalid (400). */
export class ValidationError extends AppError {
  override name = 'ValidationError'

  constructor(message: string, fieldErrors: readonly FieldError[] = []) {
    super(400, 'VALIDATION_FAILED', message, { fieldErrors })
  }
}

/** The caller presented no valid credentials (401). */
export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError'

  constructor(message: string, code = 'UNAUTHORIZED') {
    super(401, code, message)
  }
}

/** The caller is authenticated but has none of the roles the route allows (403). */
export class ForbiddenError extends AppError {
  override name = 'ForbiddenError'

  constructor(message: string) {
    super(403, 'FORBIDDEN', message)
  }
}

/** The caller sent too many requests of one kind; retry after `retryAfterSeconds` (429). */
export class TooManyRequestsError extends AppError {
  override name = 'TooManyRequestsError'
  readonly retryAfterSeconds: number

  constructor(code: string, message: string, retryAfterSeconds: number) {
    super(429, code, message, { extensions: { retryAfterSeconds } })
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/** The addressed entity does not exist or was deleted (404). */
export class NotFoundError extends AppError {
  override name = 'NotFoundError'

  constructor(entity: string, id: string) {
    super(404, 'NOT_FOUND', `${entity} ${id} was not found`)
  }
}

/** The request clashes with the current state, such as a duplicate identifier (409). */
export class ConflictError extends AppError {
  override name = 'ConflictError'

  constructor(code: string, message: string, extensions: Record<string, unknown> = {}) {
    super(409, code, message, { extensions })
  }
}

/**
 * A registry write of a resource type that the sync mode makes FHIR's alone (`from-fhir`): the
 * write could never reach FHIR, so it is rejected (409).
 */
export class ReadOnlyResourceTypeError extends ConflictError {
  override name = 'ReadOnlyResourceTypeError'

  constructor(resourceType: string) {
    super(
      'READ_ONLY_SYNC_DIRECTION',
      `${resourceType} records sync only from FHIR to the registry here; write them in FHIR, or change SYNC_DIRECTION`,
      { syncDirection: 'from-fhir' },
    )
  }
}

/** An `If-Match` header named a version that is no longer current (412). */
export class VersionMismatchError extends AppError {
  override name = 'VersionMismatchError'

  constructor(entity: string, id: string, expected: number, current: number) {
    super(
      412,
      'VERSION_MISMATCH',
      `${entity} ${id} is at version ${current}, not ${expected}; read it again and retry`,
      { extensions: { currentVersion: current } },
    )
  }
}

/** A write that must name the version it replaces came without `If-Match` (428). */
export class PreconditionRequiredError extends AppError {
  override name = 'PreconditionRequiredError'

  constructor() {
    super(428, 'IF_MATCH_REQUIRED', 'Send If-Match with the ETag of the version you read')
  }
}
