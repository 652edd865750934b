import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { getConnInfo } from '@hono/node-server/conninfo'
import type { AppEnv } from '../platform/http.ts'
import { ERROR_RESPONSES, jsonContent } from '../platform/schemas.ts'
import { ROLES, publicRoute, securedRoute } from './access.ts'
import { changePasswordSchema, loginSchema, principalSchema, tokenSchema } from './auth.schemas.ts'
import type { AuthService } from './auth.service.ts'

const TAG = 'Authentication'

const tokenRoute = publicRoute({
  method: 'post',
  path: '/auth/token',
  operationId: 'issueToken',
  tags: [TAG],
  summary: 'Sign in with a username and password for a short-lived access token',
  description:
    'Send the token as `Authorization: Bearer <access_token>`. Failed sign-ins are counted per account and per address; past the limit both are locked for a while and get 429 with Retry-After.',
  request: { body: { content: jsonContent(loginSchema), required: true } },
  responses: {
    200: { description: 'Signed in', content: jsonContent(tokenSchema) },
    400: ERROR_RESPONSES[400],
    401: ERROR_RESPONSES[401],
    429: ERROR_RESPONSES[429],
  },
})

const meRoute = securedRoute(ROLES, {
  method: 'get',
  path: '/auth/me',
  operationId: 'getCurrentPrincipal',
  tags: [TAG],
  summary: 'The caller of this request: user id and roles',
  responses: { 200: { description: 'The caller', content: jsonContent(principalSchema) } },
})

const changePasswordRoute = securedRoute(ROLES, {
  method: 'post',
  path: '/auth/password',
  operationId: 'changeOwnPassword',
  tags: [TAG],
  summary: "Change the caller's own password",
  description:
    'For users who sign in with a password. A wrong current password counts as a failed sign-in of the account.',
  request: { body: { content: jsonContent(changePasswordSchema), required: true } },
  responses: {
    204: { description: 'Changed; tokens already issued stay valid until they expire' },
    400: ERROR_RESPONSES[400],
    403: ERROR_RESPONSES[403],
    409: ERROR_RESPONSES[409],
    429: ERROR_RESPONSES[429],
  },
})

/** Maximum length of an address taken from X-Forwarded-For; an IPv6 address with a zone fits. */
const MAX_ADDRESS_LENGTH = 64

/**
 * Returns the caller's address: the socket's peer, or with a trusted proxy the last entry of
 * X-Forwarded-For. The proxy appends the address it saw to whatever the client sent, so only the
 * last entry is the proxy's own finding and the earlier ones are the client's to choose.
 */
function addressOf(c: Context<AppEnv>, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim()
    if (forwarded) return forwarded.slice(0, MAX_ADDRESS_LENGTH)
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown'
  } catch {
    // Requests handed to app.fetch directly, as in unit tests, have no socket.
    return 'unknown'
  }
}

export function registerAuthRoutes(
  app: OpenAPIHono<AppEnv>,
  auth: AuthService,
  options: { trustProxy: boolean },
): void {
  app.openapi(tokenRoute, async (c) => {
    const { username, password } = c.req.valid('json')
    const issued = await auth.login(
      username,
      password,
      addressOf(c, options.trustProxy),
      c.get('logger'),
    )
    c.header('Cache-Control', 'no-store')
    return c.json(
      {
        access_token: issued.token,
        token_type: 'Bearer' as const,
        expires_in: issued.expiresIn,
        roles: issued.roles,
      },
      200,
    )
  })

  app.openapi(changePasswordRoute, async (c) => {
    await auth.changeOwnPassword(c.get('principal'), c.req.valid('json'), {
      address: addressOf(c, options.trustProxy),
      requestId: c.get('requestId'),
      logger: c.get('logger'),
    })
    return c.body(null, 204)
  })

  app.openapi(meRoute, (c) => {
    const principal = c.get('principal')
    return c.json({ id: principal.id, roles: [...principal.roles] }, 200)
  })
}
