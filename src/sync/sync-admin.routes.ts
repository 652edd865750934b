import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { securedRoute } from '../auth/access.ts'
import type { AppEnv } from '../platform/http.ts'
import { ERROR_RESPONSES, jsonContent, pageQuerySchema } from '../platform/schemas.ts'
import type { SyncAdminService } from './sync-admin.service.ts'

const TAG = 'Sync admin'

const entityTypeSchema = z.enum(['patient', 'condition']).openapi({ example: 'patient' })

const queueDepthSchema = z.object({
  ready: z.number().int().openapi({ description: 'Jobs that may start now' }),
  deferred: z.number().int().openapi({ description: 'Jobs waiting for a later start (retries)' }),
  active: z.number().int(),
  oldestReadyAgeSeconds: z.number().int().nullable(),
})

const rowStatesSchema = z.object({
  pending: z.number().int(),
  conflict: z.number().int(),
  failed: z.number().int(),
  oldestPendingAgeSeconds: z.number().int().nullable(),
})

const subscriptionStatusSchema = z
  .object({
    resourceType: z.enum(['Patient', 'Condition']),
    id: z.string().openapi({ example: 'brain-registry-patient' }),
    status: z.string().openapi({ description: "HAPI's Subscription.status, or absent" }),
    error: z.string().nullable(),
    endpoint: z.string().nullable(),
  })
  .openapi('SubscriptionStatus')

const syncModeSchema = z.object({
  direction: z.enum(['two-way', 'to-fhir', 'from-fhir']),
  trigger: z.enum(['subscription', 'polling']),
})

const syncStatusSchema = z
  .object({
    modes: z.object({ Patient: syncModeSchema, Condition: syncModeSchema }),
    queues: z.object({ push: queueDepthSchema, merge: queueDepthSchema, drift: queueDepthSchema }),
    deadLetters: z.record(z.string(), z.number().int()).openapi({
      description: 'Jobs in each dead-letter queue',
      example: { 'fhir-push-dead': 0, 'fhir-merge-dead': 0, 'sync-drift-dead': 0 },
    }),
    rows: z.object({ patients: rowStatesSchema, conditions: rowStatesSchema }),
    notifications: z.object({
      unprocessed: z.number().int(),
      parked: z.number().int(),
      oldestUnprocessedAgeSeconds: z.number().int().nullable(),
    }),
    drift: z.record(z.string(), z.unknown()).openapi({
      description: 'Last run of each drift kind, with its counts, and the catch-up cursors',
    }),
    subscriptions: z.union([
      z.object({ items: z.array(subscriptionStatusSchema) }),
      z.object({ error: z.string() }),
    ]),
  })
  .openapi('SyncStatus')

const failedEntitySchema = z
  .object({
    entityType: entityTypeSchema,
    id: z.uuid(),
    fhirId: z.string().nullable(),
    error: z.string().nullable().openapi({ example: 'PUT .../Patient/p1 returned 422: ...' }),
    attempts: z.number().int(),
    updatedAt: z.string().openapi({ example: '2026-12-04T10:15:00.000Z' }),
  })
  .openapi('FailedEntity')

const statusRoute = securedRoute(['admin'], {
  method: 'get',
  path: '/sync/status',
  operationId: 'getSyncStatus',
  tags: [TAG],
  summary: 'Sync modes, queue depths, failed rows, the inbox, drift runs and Subscriptions',
  responses: {
    200: { description: 'The sync status', content: jsonContent(syncStatusSchema) },
  },
})

const listFailedRoute = securedRoute(['admin'], {
  method: 'get',
  path: '/sync/failed',
  operationId: 'listFailedEntities',
  tags: [TAG],
  summary: 'List rows whose push failed for good, with their last error, in pages',
  request: { query: pageQuerySchema.extend({ entityType: entityTypeSchema.optional() }) },
  responses: {
    200: {
      description: 'One page of failed rows, oldest change first',
      content: jsonContent(
        z.object({ items: z.array(failedEntitySchema), nextCursor: z.string().nullable() }),
      ),
    },
    400: ERROR_RESPONSES[400],
  },
})

const replayOneRoute = securedRoute(['admin'], {
  method: 'post',
  path: '/sync/failed/{entityType}/{id}/replay',
  operationId: 'replayFailedEntity',
  tags: [TAG],
  summary: 'Push one failed row again, with a fresh set of tries',
  request: {
    params: z.object({
      entityType: entityTypeSchema.openapi({ param: { name: 'entityType', in: 'path' } }),
      id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }),
    }),
  },
  responses: {
    202: {
      description: 'The row is pending and its push is queued',
      content: jsonContent(z.object({ replayed: z.literal(1) })),
    },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
    409: ERROR_RESPONSES[409],
  },
})

const replayAllRoute = securedRoute(['admin'], {
  method: 'post',
  path: '/sync/failed/replay',
  operationId: 'replayFailedEntities',
  tags: [TAG],
  summary: 'Push every failed row again, or those of one type',
  request: {
    body: {
      required: false,
      content: jsonContent(z.object({ entityType: entityTypeSchema.optional() }).strict()),
    },
  },
  responses: {
    202: {
      description: 'The rows are pending and their pushes are queued',
      content: jsonContent(z.object({ replayed: z.number().int() })),
    },
    400: ERROR_RESPONSES[400],
  },
})

const registerSubscriptionsRoute = securedRoute(['admin'], {
  method: 'post',
  path: '/sync/subscriptions',
  operationId: 'registerSubscriptions',
  tags: [TAG],
  summary: "Create or update the registry's Subscriptions on HAPI and wait until they are active",
  responses: {
    200: {
      description: 'The Subscriptions as HAPI now stores them',
      content: jsonContent(z.object({ items: z.array(subscriptionStatusSchema) })),
    },
  },
})

export function registerSyncAdminRoutes(app: OpenAPIHono<AppEnv>, service: SyncAdminService): void {
  app.openapi(statusRoute, async (c) => {
    return c.json((await service.status()) as z.infer<typeof syncStatusSchema>, 200)
  })

  app.openapi(listFailedRoute, async (c) => {
    return c.json(await service.listFailed(c.req.valid('query')), 200)
  })

  app.openapi(replayOneRoute, async (c) => {
    const { entityType, id } = c.req.valid('param')
    await service.replay(entityType, id, c.get('requestId'))
    return c.json({ replayed: 1 as const }, 202)
  })

  app.openapi(replayAllRoute, async (c) => {
    const body = c.req.header('content-length') === '0' ? {} : c.req.valid('json')
    const replayed = await service.replayAll(body.entityType, c.get('requestId'))
    return c.json({ replayed }, 202)
  })

  app.openapi(registerSubscriptionsRoute, async (c) => {
    return c.json({ items: await service.registerSubscriptions() }, 200)
  })
}
