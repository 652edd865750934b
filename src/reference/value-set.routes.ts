import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { ROLES, securedRoute } from '../auth/access.ts'
import type { AppEnv } from '../platform/http.ts'
import { ERROR_RESPONSES, jsonContent } from '../platform/schemas.ts'
import {
  valueSetCodeSchema,
  valueSetCodesQuerySchema,
  valueSetIdParamSchema,
  valueSetSummarySchema,
} from './value-set.schemas.ts'
import type { ValueSetService } from './value-set.service.ts'

const TAG = 'Value sets'

const listValueSetsRoute = securedRoute(ROLES, {
  method: 'get',
  path: '/value-sets',
  operationId: 'listValueSets',
  tags: [TAG],
  summary: 'List the value sets that condition and patient fields take their codes from',
  responses: {
    200: {
      description: 'Every value set, without its codes',
      content: jsonContent(z.object({ items: z.array(valueSetSummarySchema) })),
    },
  },
})

const listValueSetCodesRoute = securedRoute(ROLES, {
  method: 'get',
  path: '/value-sets/{id}/codes',
  operationId: 'listValueSetCodes',
  tags: [TAG],
  summary: 'Search the codes of a value set, in pages, for a picker',
  request: { params: valueSetIdParamSchema, query: valueSetCodesQuerySchema },
  responses: {
    200: {
      description: 'One page of matching codes',
      content: jsonContent(
        z.object({ items: z.array(valueSetCodeSchema), nextCursor: z.string().nullable() }),
      ),
    },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
  },
})

export function registerValueSetRoutes(app: OpenAPIHono<AppEnv>, service: ValueSetService): void {
  app.openapi(listValueSetsRoute, (c) => {
    return c.json({ items: service.list() }, 200)
  })

  app.openapi(listValueSetCodesRoute, (c) => {
    return c.json(service.listCodes(c.req.valid('param').id, c.req.valid('query')), 200)
  })
}
