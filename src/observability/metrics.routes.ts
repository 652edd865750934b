import { z, type OpenAPIHono } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import { securedRoute } from '../auth/access.ts'
import { BearerSecret } from '../auth/bearer-secret.ts'
import type { AppEnv, Principal } from '../platform/http.ts'
import type { Metrics } from './metrics.ts'

export const METRICS_PATH = '/metrics'

/**
 * Caller that presented METRICS_TOKEN. Its admin role counts on this route only, because only this
 * route's middleware returns it.
 */
const SCRAPER: Principal = { id: 'metrics-token', roles: ['admin'] }

const metricsRoute = securedRoute(['admin'], {
  method: 'get',
  path: METRICS_PATH,
  operationId: 'getMetrics',
  tags: ['Health'],
  summary: 'Prometheus metrics',
  description:
    'Request durations, push and merge durations, queue depths, sync lag, open conflicts and drift findings in the Prometheus text format. Besides an admin token, the route accepts `Bearer <METRICS_TOKEN>` when that variable is set.',
  responses: {
    200: {
      description: 'The metrics in the Prometheus text format 0.0.4',
      content: {
        'text/plain; version=0.0.4': {
          schema: z.string().openapi({
            example:
              '# HELP brain_registry_open_conflicts Conflicts waiting for a steward, by entity type\n# TYPE brain_registry_open_conflicts gauge\nbrain_registry_open_conflicts{entity_type="patient"} 2\n',
          }),
        },
      },
    },
  },
})

/**
 * Lets a caller that presents the static scrape token pass the route's role check, which runs
 * after this middleware: it replaces the request's `authenticate` with one that returns the
 * scraper. Any other Authorization header goes to the usual authentication.
 */
export function acceptScrapeToken(token: string | undefined): MiddlewareHandler<AppEnv> {
  const expected = token === undefined ? undefined : new BearerSecret(token)
  return async (c, next) => {
    if (expected?.matches(c.req.header('authorization'))) {
      c.set('authenticate', () => Promise.resolve(SCRAPER))
    }
    await next()
  }
}

/** Registers `GET /metrics` for admins and, when `scrapeToken` is set, for that token. */
export function registerMetricsRoutes(
  app: OpenAPIHono<AppEnv>,
  metrics: Metrics,
  options: { scrapeToken?: string },
): void {
  app.use(METRICS_PATH, acceptScrapeToken(options.scrapeToken))
  app.openapi(metricsRoute, async (c) => {
    const text = await metrics.render()
    return c.text(text, 200, { 'Content-Type': metrics.contentType })
  })
}
