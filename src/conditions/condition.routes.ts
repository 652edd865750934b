import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { changeContextOf } from '../audit/change-context.ts'
import { securedRoute } from '../auth/access.ts'
import type { AppEnv } from '../platform/http.ts'
import {
  ERROR_RESPONSES,
  WRITE_ERROR_RESPONSES,
  expectedVersionOf,
  idParamSchema,
  ifMatchHeaderSchema,
  jsonContent,
  pageQuerySchema,
  problemSchema,
} from '../platform/schemas.ts'
import {
  conditionFhirViewSchema,
  conditionListQuerySchema,
  conditionSchema,
  createConditionSchema,
  patchConditionSchema,
} from './condition.schemas.ts'
import type { ConditionService } from './condition.service.ts'

const TAG = 'Conditions'

const createConditionRoute = securedRoute(['clinician'], {
  method: 'post',
  path: '/conditions',
  operationId: 'createCondition',
  tags: [TAG],
  summary: 'Record a condition of a patient; it is pushed to FHIR in the background',
  request: { body: { content: jsonContent(createConditionSchema), required: true } },
  responses: {
    201: { description: 'Created', content: jsonContent(conditionSchema) },
    400: ERROR_RESPONSES[400],
  },
})

const getConditionRoute = securedRoute(['clinician', 'steward'], {
  method: 'get',
  path: '/conditions/{id}',
  operationId: 'getCondition',
  tags: [TAG],
  summary: 'Read a condition; the ETag is its version',
  request: { params: idParamSchema },
  responses: {
    200: { description: 'The condition', content: jsonContent(conditionSchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
  },
})

const getConditionFhirViewRoute = securedRoute(['clinician', 'steward'], {
  method: 'get',
  path: '/conditions/{id}/fhir',
  operationId: 'getConditionFhirView',
  tags: [TAG],
  summary: "Read the condition's current FHIR Condition from HAPI, with its mapped fields",
  description:
    '404 `NOT_IN_FHIR` when the condition has not been written to FHIR yet, 404 `FHIR_RESOURCE_GONE` when HAPI has no such Condition or deleted it, 502 `FHIR_UNAVAILABLE` when HAPI cannot be reached or fails.',
  request: { params: idParamSchema },
  responses: {
    200: {
      description: 'The current FHIR Condition and its mapped fields',
      content: jsonContent(conditionFhirViewSchema),
    },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
    502: {
      description: 'The FHIR server could not be reached or failed',
      content: { 'application/problem+json': { schema: problemSchema } },
    },
  },
})

const listConditionsRoute = securedRoute(['clinician', 'steward'], {
  method: 'get',
  path: '/conditions',
  operationId: 'listConditions',
  tags: [TAG],
  summary: 'List conditions, filtered by patient, code or neurological flag, in pages',
  request: { query: conditionListQuerySchema.extend(pageQuerySchema.shape) },
  responses: {
    200: {
      description: 'One page of conditions',
      content: jsonContent(
        z.object({ items: z.array(conditionSchema), nextCursor: z.string().nullable() }),
      ),
    },
    400: ERROR_RESPONSES[400],
  },
})

const replaceConditionRoute = securedRoute(['clinician'], {
  method: 'put',
  path: '/conditions/{id}',
  operationId: 'replaceCondition',
  tags: [TAG],
  summary: 'Replace every field of a condition; needs If-Match',
  request: {
    params: idParamSchema,
    headers: ifMatchHeaderSchema,
    body: { content: jsonContent(createConditionSchema.omit({ patientId: true })), required: true },
  },
  responses: {
    200: { description: 'The updated condition', content: jsonContent(conditionSchema) },
    ...WRITE_ERROR_RESPONSES,
  },
})

const patchConditionRoute = securedRoute(['clinician'], {
  method: 'patch',
  path: '/conditions/{id}',
  operationId: 'patchCondition',
  tags: [TAG],
  summary: 'Replace some fields of a condition; needs If-Match',
  request: {
    params: idParamSchema,
    headers: ifMatchHeaderSchema,
    body: { content: jsonContent(patchConditionSchema), required: true },
  },
  responses: {
    200: { description: 'The updated condition', content: jsonContent(conditionSchema) },
    ...WRITE_ERROR_RESPONSES,
  },
})

const deleteConditionRoute = securedRoute(['clinician'], {
  method: 'delete',
  path: '/conditions/{id}',
  operationId: 'deleteCondition',
  tags: [TAG],
  summary: 'Delete a condition, here and in FHIR',
  request: { params: idParamSchema, headers: ifMatchHeaderSchema },
  responses: {
    204: { description: 'Deleted' },
    ...WRITE_ERROR_RESPONSES,
  },
})

export function registerConditionRoutes(app: OpenAPIHono<AppEnv>, service: ConditionService): void {
  app.openapi(createConditionRoute, async (c) => {
    const condition = await service.create(c.req.valid('json'), changeContextOf(c))
    c.header('ETag', `"${condition.version}"`)
    c.header('Location', `/conditions/${condition.id}`)
    return c.json(condition, 201)
  })

  app.openapi(getConditionRoute, async (c) => {
    const condition = await service.get(c.req.valid('param').id)
    c.header('ETag', `"${condition.version}"`)
    return c.json(condition, 200)
  })

  app.openapi(getConditionFhirViewRoute, async (c) => {
    const view = await service.getFhirView(c.req.valid('param').id, c.get('logger'))
    return c.json(view, 200)
  })

  app.openapi(listConditionsRoute, async (c) => {
    return c.json(await service.list(c.req.valid('query')), 200)
  })

  app.openapi(replaceConditionRoute, async (c) => {
    const expected = expectedVersionOf(c.req.valid('header')['if-match'])
    const condition = await service.update(
      c.req.valid('param').id,
      c.req.valid('json'),
      expected,
      changeContextOf(c),
    )
    c.header('ETag', `"${condition.version}"`)
    return c.json(condition, 200)
  })

  app.openapi(patchConditionRoute, async (c) => {
    const expected = expectedVersionOf(c.req.valid('header')['if-match'])
    const condition = await service.update(
      c.req.valid('param').id,
      c.req.valid('json'),
      expected,
      changeContextOf(c),
    )
    c.header('ETag', `"${condition.version}"`)
    return c.json(condition, 200)
  })

  app.openapi(deleteConditionRoute, async (c) => {
    const expected = expectedVersionOf(c.req.valid('header')['if-match'])
    await service.delete(c.req.valid('param').id, expected, changeContextOf(c))
    return c.body(null, 204)
  })
}
