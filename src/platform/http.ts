import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import { routePath } from 'hono/route'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { AppError, TooManyRequestsError, type FieldError } from './errors.ts'
import { errorFields, type Logger } from './logger.ts'
import { operationOutcomeOf } from './operation-outcome.ts'
import { checkRequestBody } from './request-body.ts'
import { validationErrorFrom } from './validation.ts'

/**
 * Caller of a request. A route's role check fills it in from the bearer token; on open routes
 * the caller stays anonymous.
 */
export interface Principal {
  /** Audit actor: a local user's id, or `issuer#subject` for a token of an external issuer. */
  id: string
  roles: readonly string[]
}

/** Turns an Authorization header into the caller, or raises 401 for a missing or bad token. */
export type Authenticate = (authorization: string | undefined) => Promise<Principal>

/** Per-request values that middleware puts on the Hono context. */
export interface RequestVariables {
  requestId: string
  logger: Logger
  principal: Principal
  authenticate: Authenticate
}

export interface AppEnv {
  Variables: RequestVariables
}

export const PROBLEM_TYPE_BASE = 'https://brain-registry.example.org/problems/'

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

/**
 * Path of the FHIR rest-hook receiver. Errors under it render as a FHIR OperationOutcome, since
 * its caller is a FHIR server.
 */
export const RECEIVER_PATH = '/fhir-hook'

/**
 * Creates a router whose validation failures render as errors of the one format, and whose every
 * route checks the request body against the body it declares (see `checkRequestBody`). That
 * check runs after the route's own middleware, such as its role check, and before its
 * validators.
 */
export function createRouter(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationErrorFrom(result.error)
    },
  })
  const register = app.openapi
  app.openapi = ((route: RouteConfig, ...rest: unknown[]) => {
    const own = route.middleware === undefined ? [] : [route.middleware].flat()
    const middleware = [...own, checkRequestBody(route)]
    return (register as (...args: unknown[]) => unknown)({ ...route, middleware }, ...rest)
  }) as typeof app.openapi
  return app
}

/**
 * Gives each request an id (the caller's X-Request-ID when it is safe to echo, else a new UUID)
 * and a child logger, and logs one line when the request ends.
 */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const offered = c.req.header('x-request-id')
    const requestId = offered && REQUEST_ID.test(offered) ? offered : crypto.randomUUID()
    const requestLogger = logger.child({ requestId })
    c.set('requestId', requestId)
    c.set('logger', requestLogger)
    c.set('principal', { id: 'anonymous', roles: [] })
    c.header('X-Request-ID', requestId)
    const started = performance.now()
    await next()
    requestLogger.info('Request completed', {
      method: c.req.method,
      route: routePath(c, -1),
      status: c.res.status,
      durationMs: Math.round(performance.now() - started),
    })
  }
}

function titleOf(status: number): string {
  const titles: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    412: 'Precondition Failed',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
    428: 'Precondition Required',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
  }
  return titles[status] ?? 'Error'
}

const HTTP_EXCEPTION_CODES: Record<number, string> = {
  400: 'MALFORMED_REQUEST',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
}

/** Postgres rejects NUL and invalid code points in text and jsonb (SQLSTATE 22P05, 22021). */
function isUnstorableText(error: Error): boolean {
  const code = (error as { code?: unknown }).code
  return code === '22P05' || code === '22021'
}

/** Maximum size of a request body; a larger one is rejected with 413. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024

/**
 * Rejects bodies over `MAX_BODY_BYTES` with 413. A body without Content-Length, sent in chunks,
 * is counted as it is read and rejected once it passes the limit.
 */
export function limitBodySize(): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      errorResponse(
        c as Context<AppEnv>,
        413,
        'PAYLOAD_TOO_LARGE',
        `The body is larger than ${MAX_BODY_BYTES} bytes`,
      ),
  })
}

/**
 * Renders an error as `application/problem+json`, or as a FHIR OperationOutcome under
 * `RECEIVER_PATH`. HAPI's rest-hook delivery sends PUT and DELETE through its generic client,
 * which raises on any status outside 2xx whatever the body holds, so a 4xx still fails the
 * delivery (HAPI's SubscriptionDeliveringRestHookSubscriber, read in its 6.x source).
 */
export function errorResponse(
  c: Context<AppEnv>,
  status: number,
  code: string,
  detail: string,
  fieldErrors: readonly FieldError[] = [],
  extra: Record<string, unknown> = {},
): Response {
  if (c.req.path === RECEIVER_PATH || c.req.path.startsWith(`${RECEIVER_PATH}/`)) {
    const outcome = operationOutcomeOf({
      status,
      code,
      detail,
      requestId: c.get('requestId'),
      fieldErrors,
    })
    return c.body(JSON.stringify(outcome), status as ContentfulStatusCode, {
      'Content-Type': 'application/fhir+json',
    })
  }
  const members = fieldErrors.length > 0 ? { ...extra, errors: fieldErrors } : extra
  return problemResponse(c, status, code, detail, members)
}

/** Renders an error as `application/problem+json`. */
export function problemResponse(
  c: Context<AppEnv>,
  status: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
): Response {
  // Extension members come first, so none can replace a standard member such as `status`.
  const body = {
    ...extra,
    type: PROBLEM_TYPE_BASE + code.toLowerCase().replaceAll('_', '-'),
    title: titleOf(status),
    status,
    detail,
    instance: c.req.path,
    code,
    requestId: c.get('requestId'),
  }
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, {
    'Content-Type': 'application/problem+json',
  })
}

/** The one error handler: known errors keep their status and code, anything else is a 500. */
export function handleError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof AppError) {
    if (error.status === 401) c.header('WWW-Authenticate', 'Bearer realm="brain-registry"')
    if (error instanceof TooManyRequestsError) {
      c.header('Retry-After', String(error.retryAfterSeconds))
    }
    return errorResponse(c, error.status, error.code, error.message, error.fieldErrors, {
      ...error.extensions,
    })
  }
  if (error instanceof HTTPException) {
    // Hono raises these for unreadable bodies, such as malformed JSON or a wrong content type.
    const code = HTTP_EXCEPTION_CODES[error.status] ?? 'HTTP_ERROR'
    return errorResponse(c, error.status, code, error.message || titleOf(error.status))
  }
  if (isUnstorableText(error)) {
    return errorResponse(
      c,
      400,
      'VALIDATION_FAILED',
      'The request contains a character that cannot be stored, such as NUL (\\u0000)',
    )
  }
  c.get('logger').error('Request failed', {
    ...errorFields(error),
    method: c.req.method,
    path: c.req.path,
  })
  return errorResponse(c, 500, 'INTERNAL_ERROR', 'The server failed to handle the request')
}

/** Responds to unknown paths in the same format as every other error. */
export function handleNotFound(c: Context<AppEnv>): Response {
  return errorResponse(c, 404, 'ROUTE_NOT_FOUND', `No route matches ${c.req.method} ${c.req.path}`)
}
