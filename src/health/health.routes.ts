import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { sql, type Kysely } from 'kysely'
import { publicRoute } from '../auth/access.ts'
import type { FhirClient } from '../fhir/fhir-client.ts'
import type { Database } from '../platform/db.ts'
import type { AppEnv } from '../platform/http.ts'
import { errorFields } from '../platform/logger.ts'
import { jsonContent } from '../platform/schemas.ts'
import { judgeQueueLag, type QueueLagReader } from './queue-lag.ts'

const checkSchema = z.object({
  status: z.enum(['up', 'down']),
  durationMs: z.number(),
  error: z.string().optional(),
})
const queueLagCheckSchema = checkSchema.extend({
  oldestReadyAgeSeconds: z.number().int().nullable().openapi({
    description:
      'Seconds the longest-waiting ready push or merge job has waited; null when none waits or the queues could not be read',
    example: 3,
  }),
  maxAgeSeconds: z.number().int().openapi({
    description: 'READINESS_MAX_QUEUE_LAG_SECONDS: a longer wait makes the registry not ready',
    example: 300,
  }),
})
const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not-ready']),
    checks: z.object({ database: checkSchema, fhir: checkSchema, queueLag: queueLagCheckSchema }),
  })
  .openapi('Readiness')

const liveRoute = publicRoute({
  method: 'get',
  path: '/health/live',
  operationId: 'getLiveness',
  tags: ['Health'],
  summary: 'Liveness: the process answers',
  responses: {
    200: { description: 'Alive', content: jsonContent(z.object({ status: z.literal('ok') })) },
  },
})

const readyRoute = publicRoute({
  method: 'get',
  path: '/health/ready',
  operationId: 'getReadiness',
  tags: ['Health'],
  summary: 'Readiness: Postgres and HAPI answer, and push and merge jobs do not wait too long',
  responses: {
    200: { description: 'Ready', content: jsonContent(readinessSchema) },
    503: {
      description: 'A dependency is down or the queues lag',
      content: jsonContent(readinessSchema),
    },
  },
})

async function timed(check: () => Promise<unknown>): Promise<z.infer<typeof checkSchema>> {
  const started = performance.now()
  try {
    await check()
    return { status: 'up', durationMs: Math.round(performance.now() - started) }
  } catch (error) {
    return {
      status: 'down',
      durationMs: Math.round(performance.now() - started),
      error: String(errorFields(error).error),
    }
  }
}

async function checkQueueLag(
  queueLag: QueueLagReader,
  maxAgeSeconds: number,
): Promise<z.infer<typeof queueLagCheckSchema>> {
  const started = performance.now()
  try {
    const verdict = judgeQueueLag(await queueLag.read(), maxAgeSeconds)
    return {
      status: verdict.ready ? 'up' : 'down',
      durationMs: Math.round(performance.now() - started),
      ...(verdict.error === undefined ? {} : { error: verdict.error }),
      oldestReadyAgeSeconds: verdict.oldestReadyAgeSeconds,
      maxAgeSeconds,
    }
  } catch (error) {
    return {
      status: 'down',
      durationMs: Math.round(performance.now() - started),
      error: String(errorFields(error).error),
      oldestReadyAgeSeconds: null,
      maxAgeSeconds,
    }
  }
}

export function registerHealthRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: {
    db: Kysely<Database>
    fhir: FhirClient
    queueLag: QueueLagReader
    /** Maximum wait of a ready push or merge job that still counts as ready, in seconds. */
    maxQueueLagSeconds: number
  },
): void {
  app.openapi(liveRoute, (c) => c.json({ status: 'ok' as const }, 200))

  app.openapi(readyRoute, async (c) => {
    const [database, fhir, queueLag] = await Promise.all([
      timed(() => sql`select 1`.execute(deps.db)),
      timed(() => deps.fhir.capabilities()),
      checkQueueLag(deps.queueLag, deps.maxQueueLagSeconds),
    ])
    const ready = database.status === 'up' && fhir.status === 'up' && queueLag.status === 'up'
    const body = {
      status: ready ? ('ready' as const) : ('not-ready' as const),
      checks: { database, fhir, queueLag },
    }
    if (ready) {
      c.get('logger').debug('Readiness checked', { ready })
    } else {
      c.get('logger').warn('Not ready', {
        database: database.status,
        fhir: fhir.status,
        queueLag: queueLag.status,
        oldestReadyAgeSeconds: queueLag.oldestReadyAgeSeconds,
      })
    }
    return ready ? c.json(body, 200) : c.json(body, 503)
  })
}
