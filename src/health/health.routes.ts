import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { sql, type Kysely } from 'kysely'
import type { FhirClient } from '../fhir/fhir-client.ts'
import type { Database } from '../platform/db.ts'
import type { AppEnv } from '../platform/http.ts'
import { errorFields } from '../platform/logger.ts'
import { jsonContent } from '../platform/schemas.ts'

const checkSchema = z.object({
  status: z.enum(['up', 'down']),
  durationMs: z.number(),
  error: z.string().optional(),
})
const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not-ready']),
    checks: z.object({ database: checkSchema, fhir: checkSchema }),
  })
  .openapi('Readiness')

const liveRoute = createRoute({
  method: 'get',
  path: '/health/live',
  operationId: 'getLiveness',
  tags: ['Health'],
  summary: 'Liveness: the process answers',
  responses: {
    200: { description: 'Alive', content: jsonContent(z.object({ status: z.literal('ok') })) },
  },
})

const readyRoute = createRoute({
  method: 'get',
  path: '/health/ready',
  operationId: 'getReadiness',
  tags: ['Health'],
  summary: 'Readiness: Postgres and HAPI answer',
  responses: {
    200: { description: 'Ready', content: jsonContent(readinessSchema) },
    503: { description: 'A dependency is down', content: jsonContent(readinessSchema) },
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

export function registerHealthRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: { db: Kysely<Database>; fhir: FhirClient },
): void {
  app.openapi(liveRoute, (c) => c.json({ status: 'ok' as const }, 200))

  app.openapi(readyRoute, async (c) => {
    const [database, fhir] = await Promise.all([
      timed(() => sql`select 1`.execute(deps.db)),
      timed(() => deps.fhir.capabilities()),
    ])
    const ready = database.status === 'up' && fhir.status === 'up'
    const body = {
      status: ready ? ('ready' as const) : ('not-ready' as const),
      checks: { database, fhir },
    }
    if (ready) c.get('logger').debug('Readiness checked', { ready })
    else c.get('logger').warn('Not ready', { database: database.status, fhir: fhir.status })
    return ready ? c.json(body, 200) : c.json(body, 503)
  })
}
