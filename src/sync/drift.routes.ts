import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { securedRoute } from '../auth/access.ts'
import type { AppEnv } from '../platform/http.ts'
import {
  ERROR_RESPONSES,
  idParamSchema,
  jsonContent,
  pageQuerySchema,
} from '../platform/schemas.ts'
import {
  driftFindingSchema,
  driftRunListQuerySchema,
  driftRunRequestSchema,
  driftRunSchema,
} from './drift.schemas.ts'
import type { DriftService } from './drift.service.ts'

const TAG = 'Sync admin'

const startRunRoute = securedRoute(['admin'], {
  method: 'post',
  path: '/sync/drift/runs',
  operationId: 'startDriftRun',
  tags: [TAG],
  summary: 'Start a drift catch-up or verification run now',
  description:
    'A catch-up reads HAPI history since its cursor and merges the changes the registry missed. ' +
    'A verification compares every synced row with HAPI and queues repairs. The run is queued ' +
    'at once and a worker starts it; poll `GET /sync/drift/runs/{id}` until `status` is ' +
    '`finished` or `failed`. 409 `DRIFT_RUN_ACTIVE` means a requested run of that kind waits or ' +
    'runs; the problem names it in `runId`.',
  request: { body: { content: jsonContent(driftRunRequestSchema), required: true } },
  responses: {
    202: { description: 'The queued run', content: jsonContent(driftRunSchema) },
    400: ERROR_RESPONSES[400],
    409: ERROR_RESPONSES[409],
  },
})

const listRunsRoute = securedRoute(['admin'], {
  method: 'get',
  path: '/sync/drift/runs',
  operationId: 'listDriftRuns',
  tags: [TAG],
  summary: 'List drift runs, newest first',
  request: { query: driftRunListQuerySchema },
  responses: {
    200: {
      description: 'The newest runs',
      content: jsonContent(z.object({ items: z.array(driftRunSchema) })),
    },
    400: ERROR_RESPONSES[400],
  },
})

const getRunRoute = securedRoute(['admin'], {
  method: 'get',
  path: '/sync/drift/runs/{id}',
  operationId: 'getDriftRun',
  tags: [TAG],
  summary: 'Read a drift run: status, times, cursors and counts',
  request: { params: idParamSchema },
  responses: {
    200: { description: 'The run', content: jsonContent(driftRunSchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
  },
})

const listFindingsRoute = securedRoute(['admin'], {
  method: 'get',
  path: '/sync/drift/runs/{id}/findings',
  operationId: 'listDriftFindings',
  tags: [TAG],
  summary: 'List the differences a verification run found, in pages',
  request: { params: idParamSchema, query: pageQuerySchema },
  responses: {
    200: {
      description: 'One page of findings',
      content: jsonContent(
        z.object({ items: z.array(driftFindingSchema), nextCursor: z.string().nullable() }),
      ),
    },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
  },
})

export function registerDriftRoutes(app: OpenAPIHono<AppEnv>, service: DriftService): void {
  app.openapi(startRunRoute, async (c) => {
    const run = await service.requestRun(c.req.valid('json').kind, 'api')
    c.get('logger').info('Drift run requested', { runId: run.id, kind: run.kind })
    return c.json(run, 202)
  })

  app.openapi(listRunsRoute, async (c) => {
    return c.json(await service.listRuns(c.req.valid('query')), 200)
  })

  app.openapi(getRunRoute, async (c) => {
    return c.json(await service.getRun(c.req.valid('param').id), 200)
  })

  app.openapi(listFindingsRoute, async (c) => {
    return c.json(await service.listFindings(c.req.valid('param').id, c.req.valid('query')), 200)
  })
}
