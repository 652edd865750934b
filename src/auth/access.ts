import { createRoute, type RouteConfig } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import { ForbiddenError } from '../platform/errors.ts'
import type { AppEnv } from '../platform/http.ts'
import { ERROR_RESPONSES } from '../platform/schemas.ts'

/** The roles a registry user may hold; a user may hold several. */
export const ROLES = ['admin', 'clinician', 'steward', 'auditor'] as const

export type Role = (typeof ROLES)[number]

/** Name of the bearer-token security scheme in the OpenAPI document. */
export const BEARER_SCHEME = 'bearerAuth'

/** Name of the rest-hook secret's security scheme in the OpenAPI document. */
export const SUBSCRIPTION_SECRET_SCHEME = 'subscriptionSecret'

/**
 * OpenAPI extension that lists the roles a route allows. The role-matrix test reads it, so a
 * route defined without `securedRoute` or `publicRoute` has no rule and fails that test.
 */
export const ROLES_EXTENSION = 'x-roles'

/** OpenAPI extension that marks a route any caller may use without a token. */
export const PUBLIC_EXTENSION = 'x-public'

/** Rejects a caller without a valid token (401) or without one of `roles` (403). */
export function requireRoles(roles: readonly Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await c.get('authenticate')(c.req.header('authorization'))
    c.set('principal', principal)
    c.set('logger', c.get('logger').child({ actor: principal.id }))
    if (!principal.roles.some((role) => (roles as readonly string[]).includes(role))) {
      throw new ForbiddenError(
        `This route needs one of the roles ${roles.join(', ')}; the caller has ${principal.roles.join(', ') || 'none'}`,
      )
    }
    await next()
  }
}

/**
 * Defines a route that only callers holding one of `roles` may use. The rule is enforced by the
 * route's own middleware, before its input is validated, and shows in the OpenAPI document as
 * the bearer security scheme, the `x-roles` extension and the 401 and 403 responses.
 */
export function securedRoute<R extends RouteConfig>(roles: readonly Role[], config: R) {
  return createRoute({
    ...config,
    security: [{ [BEARER_SCHEME]: [] }],
    [ROLES_EXTENSION]: [...roles],
    middleware: requireRoles(roles),
    responses: {
      ...config.responses,
      401: ERROR_RESPONSES[401],
      403: ERROR_RESPONSES[403],
    },
  })
}

/** Defines a route open to every caller, such as the health checks. */
export function publicRoute<R extends RouteConfig>(config: R) {
  return createRoute({ ...config, security: [], [PUBLIC_EXTENSION]: true })
}
