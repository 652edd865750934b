import { z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { ChangeContext } from '../audit/audit.repository.ts'
import { securedRoute } from '../auth/access.ts'
import type { AppEnv } from '../platform/http.ts'
import {
  ERROR_RESPONSES,
  idParamSchema,
  jsonContent,
  pageQuerySchema,
} from '../platform/schemas.ts'
import {
  bulkResolveSchema,
  bulkResponseSchema,
  conflictDetailSchema,
  conflictListQuerySchema,
  conflictSchema,
  dismissConflictSchema,
  resolveConflictSchema,
} from './conflict.schemas.ts'
import type { ConflictService } from './conflict.service.ts'

const TAG = 'Conflicts'

const listConflictsRoute = securedRoute(['steward'], {
  method: 'get',
  path: '/conflicts',
  operationId: 'listConflicts',
  tags: [TAG],
  summary: 'List conflicts oldest first, by default the open ones, in pages',
  request: { query: conflictListQuerySchema.extend(pageQuerySchema.shape) },
  responses: {
    200: {
      description: 'One page of conflicts',
      content: jsonContent(
        z.object({ items: z.array(conflictSchema), nextCursor: z.string().nullable() }),
      ),
    },
    400: ERROR_RESPONSES[400],
  },
})

const getConflictRoute = securedRoute(['steward'], {
  method: 'get',
  path: '/conflicts/{id}',
  operationId: 'getConflict',
  tags: [TAG],
  summary: "Read a conflict: base, registry and FHIR values, and the entity's current version",
  request: { params: idParamSchema },
  responses: {
    200: { description: 'The conflict', content: jsonContent(conflictDetailSchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
  },
})

const resolveConflictRoute = securedRoute(['steward'], {
  method: 'post',
  path: '/conflicts/{id}/resolve',
  operationId: 'resolveConflict',
  tags: [TAG],
  summary: "Resolve a conflict with the registry's value, FHIR's value or a supplied one",
  description:
    'Writes the chosen value, bumps the entity version and pushes it to FHIR. 409 ' +
    '`CONFLICT_STALE` means the entity changed after the conflict was recorded; the problem ' +
    'carries the fresh `registryValue` and `fhirValue`, which the conflict now holds too.',
  request: {
    params: idParamSchema,
    body: { content: jsonContent(resolveConflictSchema), required: true },
  },
  responses: {
    200: { description: 'The resolved conflict', content: jsonContent(conflictDetailSchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
    409: ERROR_RESPONSES[409],
  },
})

const dismissConflictRoute = securedRoute(['steward'], {
  method: 'post',
  path: '/conflicts/{id}/dismiss',
  operationId: 'dismissConflict',
  tags: [TAG],
  summary: "Dismiss a conflict with a reason; the registry's value stays and is pushed to FHIR",
  request: {
    params: idParamSchema,
    body: { content: jsonContent(dismissConflictSchema), required: true },
  },
  responses: {
    200: { description: 'The dismissed conflict', content: jsonContent(conflictDetailSchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
    409: ERROR_RESPONSES[409],
  },
})

const resolveConflictsRoute = securedRoute(['steward'], {
  method: 'post',
  path: '/conflicts/resolve',
  operationId: 'resolveConflicts',
  tags: [TAG],
  summary: 'Resolve up to 500 conflicts of one field with the same side, one by one',
  request: { body: { content: jsonContent(bulkResolveSchema), required: true } },
  responses: {
    200: { description: 'The outcome for each conflict', content: jsonContent(bulkResponseSchema) },
    400: ERROR_RESPONSES[400],
  },
})

/** Reads the steward and the request id under which the audit log records a decision. */
function changeContextOf(c: Context<AppEnv>): ChangeContext {
  return { actor: c.get('principal').id, requestId: c.get('requestId') }
}

export function registerConflictRoutes(app: OpenAPIHono<AppEnv>, service: ConflictService): void {
  app.openapi(listConflictsRoute, async (c) => {
    return c.json(await service.list(c.req.valid('query')), 200)
  })

  app.openapi(getConflictRoute, async (c) => {
    return c.json(await service.get(c.req.valid('param').id), 200)
  })

  app.openapi(resolveConflictsRoute, async (c) => {
    const body = c.req.valid('json')
    const results = await service.resolveMany(
      body.conflictIds,
      body.choice,
      changeContextOf(c),
      c.get('logger'),
    )
    return c.json({ results }, 200)
  })

  app.openapi(resolveConflictRoute, async (c) => {
    const conflict = await service.resolve(
      c.req.valid('param').id,
      c.req.valid('json'),
      changeContextOf(c),
    )
    return c.json(conflict, 200)
  })

  app.openapi(dismissConflictRoute, async (c) => {
    const conflict = await service.dismiss(
      c.req.valid('param').id,
      c.req.valid('json').reason,
      changeContextOf(c),
    )
    return c.json(conflict, 200)
  })
}
