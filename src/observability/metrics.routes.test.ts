import { describe, expect, it } from 'vitest'
import { UnauthorizedError } from '../platform/errors.ts'
import {
  createRouter,
  handleError,
  requestContext,
  type Authenticate,
  type Principal,
} from '../platform/http.ts'
import type { Logger } from '../platform/logger.ts'
import { Metrics } from './metrics.ts'
import { registerMetricsRoutes } from './metrics.routes.ts'
import { recordRequestDuration } from './request-metrics.ts'

const SCRAPE_TOKEN = 'scrape-token-of-at-least-32-characters'

const PRINCIPALS: Record<string, Principal> = {
  'Bearer admin-token': { id: 'admin-1', roles: ['admin'] },
  'Bearer clinician-token': { id: 'clinician-1', roles: ['clinician'] },
}

/** Stands in for the API's token check: two known tokens, 401 for anything else. */
const authenticate: Authenticate = (authorization) => {
  const principal = PRINCIPALS[authorization ?? '']
  return principal
    ? Promise.resolve(principal)
    : Promise.reject(new UnauthorizedError('The access token is missing or invalid'))
}

const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  child: () => silentLogger,
}

function metricsApp(options: { scrapeToken?: string } = { scrapeToken: SCRAPE_TOKEN }) {
  const metrics = new Metrics({ processMetrics: false })
  const app = createRouter()
  app.use(requestContext(silentLogger))
  app.use(async (c, next) => {
    c.set('authenticate', authenticate)
    await next()
  })
  app.use(recordRequestDuration(metrics))
  app.onError(handleError)
  registerMetricsRoutes(app, metrics, options)
  app.get('/patients/:id', (c) => c.json({ id: c.req.param('id') }))
  return { app, metrics }
}

async function scrape(
  app: ReturnType<typeof metricsApp>['app'],
  authorization?: string,
): Promise<Response> {
  return app.request('/metrics', {
    headers: authorization === undefined ? {} : { Authorization: authorization },
  })
}

describe('GET /metrics', () => {
  it('accepts the scrape token', async () => {
    const { app } = metricsApp()

    const response = await scrape(app, `Bearer ${SCRAPE_TOKEN}`)

    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(await response.text()).toContain('# TYPE http_request_duration_seconds histogram')
  })

  it('rejects a wrong scrape token with 401', async () => {
    const { app } = metricsApp()

    const response = await scrape(app, `Bearer ${SCRAPE_TOKEN}x`)
    const problem = (await response.json()) as { code: string }

    expect(response.status).toBe(401)
    expect(problem.code).toBe('UNAUTHORIZED')
  })

  it('rejects a missing token with 401', async () => {
    const { app } = metricsApp()

    expect((await scrape(app)).status).toBe(401)
  })

  it('rejects the token when none is configured', async () => {
    const { app } = metricsApp({})

    expect((await scrape(app, `Bearer ${SCRAPE_TOKEN}`)).status).toBe(401)
  })

  it('accepts an admin token', async () => {
    const { app } = metricsApp()

    expect((await scrape(app, 'Bearer admin-token')).status).toBe(200)
  })

  it('rejects a clinician with 403', async () => {
    const { app } = metricsApp()

    const response = await scrape(app, 'Bearer clinician-token')
    const problem = (await response.json()) as { code: string }

    expect(response.status).toBe(403)
    expect(problem.code).toBe('FORBIDDEN')
  })

  it('labels requests by route template', async () => {
    const { app } = metricsApp()
    await app.request('/patients/0b5e6c1d-7a9f-4d2e-9a51-3c2f7e8b9d10')

    const text = await (await scrape(app, `Bearer ${SCRAPE_TOKEN}`)).text()

    expect(text).toContain(
      'http_request_duration_seconds_count{method="GET",route="/patients/:id",status="200"} 1',
    )
    expect(text).not.toContain('0b5e6c1d')
  })

  it('labels an unmatched path by the catch-all pattern', async () => {
    const { app } = metricsApp()
    await app.request('/no/such/path/42')

    const text = await (await scrape(app, `Bearer ${SCRAPE_TOKEN}`)).text()

    expect(text).toContain(
      'http_request_duration_seconds_count{method="GET",route="/*",status="404"} 1',
    )
  })

  it('documents text content and the bearer scheme', () => {
    const { app } = metricsApp()

    const document = app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: { title: 'Metrics', version: '0' },
    })
    const operation = document.paths?.['/metrics']?.get

    expect(operation?.operationId).toBe('getMetrics')
    const ok = operation?.responses?.['200'] as { content?: Record<string, unknown> } | undefined
    expect(Object.keys(ok?.content ?? {})).toEqual(['text/plain; version=0.0.4'])
    expect(operation?.security).toEqual([{ bearerAuth: [] }])
    expect(operation?.responses?.['401']).toBeDefined()
    expect(operation?.responses?.['403']).toBeDefined()
  })
})

describe('Metrics', () => {
  it('counts pushes and merges by entity type and outcome', async () => {
    const metrics = new Metrics({ processMetrics: false })
    metrics.observePush('patient', 'pushed', 0.2)
    metrics.observePush('patient', 'pushed', 0.4)
    metrics.observeMerge('condition', 'merged', 0.05)

    const text = await metrics.render()

    expect(text).toContain(
      'brain_registry_fhir_push_duration_seconds_count{entity_type="patient",outcome="pushed"} 2',
    )
    expect(text).toContain(
      'brain_registry_fhir_push_duration_seconds_sum{entity_type="patient",outcome="pushed"} 0.6000000000000001',
    )
    expect(text).toContain(
      'brain_registry_fhir_merge_duration_seconds_bucket{le="0.05",entity_type="condition",outcome="merged"} 1',
    )
  })

  it('keeps two instances apart', async () => {
    const first = new Metrics()
    const second = new Metrics()
    first.observePush('patient', 'pushed', 1)

    expect(await second.render()).not.toContain('outcome="pushed"')
    expect(await first.render()).toContain('process_cpu_user_seconds_total')
  })
})
