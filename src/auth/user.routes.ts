import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { changeContextOf } from '../audit/change-context.ts'
import type { AppEnv } from '../platform/http.ts'
import {
  ERROR_RESPONSES,
  idParamSchema,
  jsonContent,
  pageQuerySchema,
} from '../platform/schemas.ts'
import { ROLES, securedRoute } from './access.ts'
import {
  createUserSchema,
  updateUserSchema,
  userNameSchema,
  userNamesQuerySchema,
  userSchema,
} from './auth.schemas.ts'
import type { UserService } from './user.service.ts'

const TAG = 'Users'

const createUserRoute = securedRoute(['admin'], {
  method: 'post',
  path: '/users',
  operationId: 'createUser',
  tags: [TAG],
  summary: 'Create a user who signs in with a password',
  request: { body: { content: jsonContent(createUserSchema), required: true } },
  responses: {
    201: { description: 'Created', content: jsonContent(userSchema) },
    400: ERROR_RESPONSES[400],
    409: ERROR_RESPONSES[409],
  },
})

const listUsersRoute = securedRoute(['admin'], {
  method: 'get',
  path: '/users',
  operationId: 'listUsers',
  tags: [TAG],
  summary: 'List users, oldest first, in pages',
  request: { query: pageQuerySchema },
  responses: {
    200: {
      description: 'One page of users',
      content: jsonContent(
        z.object({ items: z.array(userSchema), nextCursor: z.string().nullable() }),
      ),
    },
    400: ERROR_RESPONSES[400],
  },
})

const getUserNamesRoute = securedRoute(ROLES, {
  method: 'get',
  path: '/users/names',
  operationId: 'getUserNames',
  tags: [TAG],
  summary: 'Look up the usernames of user ids',
  description:
    'Open to every role, so that pages can name the actor of an audit entry or a resolution. Ids that name no local user, such as issuer#subject actors, are left out of the result.',
  request: { query: userNamesQuerySchema },
  responses: {
    200: {
      description: 'The usernames of the ids that are local users',
      content: jsonContent(z.object({ items: z.array(userNameSchema) })),
    },
    400: ERROR_RESPONSES[400],
  },
})

const getUserRoute = securedRoute(['admin'], {
  method: 'get',
  path: '/users/{id}',
  operationId: 'getUser',
  tags: [TAG],
  summary: 'Read a user',
  request: { params: idParamSchema },
  responses: {
    200: { description: 'The user', content: jsonContent(userSchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
  },
})

const updateUserRoute = securedRoute(['admin'], {
  method: 'patch',
  path: '/users/{id}',
  operationId: 'updateUser',
  tags: [TAG],
  summary: "Change a user's roles, disable or enable them, or set a new password",
  description:
    'Takes effect on the next request of that user, because roles are read on every request. The last enabled admin cannot lose the role or be disabled.',
  request: {
    params: idParamSchema,
    body: { content: jsonContent(updateUserSchema), required: true },
  },
  responses: {
    200: { description: 'The changed user', content: jsonContent(userSchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
    409: ERROR_RESPONSES[409],
  },
})

export function registerUserRoutes(app: OpenAPIHono<AppEnv>, users: UserService): void {
  app.openapi(createUserRoute, async (c) => {
    const user = await users.create(c.req.valid('json'), changeContextOf(c), c.get('logger'))
    return c.json(user, 201)
  })

  app.openapi(listUsersRoute, async (c) => {
    const { limit, cursor } = c.req.valid('query')
    return c.json(await users.list(limit, cursor), 200)
  })

  // Registered before `/users/{id}`: Hono runs the first matching route, and that one would take
  // `names` for an id.
  app.openapi(getUserNamesRoute, async (c) => {
    return c.json({ items: await users.names(c.req.valid('query').id) }, 200)
  })

  app.openapi(getUserRoute, async (c) => {
    return c.json(await users.get(c.req.valid('param').id), 200)
  })

  app.openapi(updateUserRoute, async (c) => {
    const user = await users.update(
      c.req.valid('param').id,
      c.req.valid('json'),
      changeContextOf(c),
    )
    return c.json(user, 200)
  })
}
