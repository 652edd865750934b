import { serve, type ServerType } from '@hono/node-server'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { registerLivenessRoute } from '../health/health.routes.ts'
import {
  createRouter,
  handleError,
  handleNotFound,
  requestContext,
  type Authenticate,
  type AppEnv,
} from '../platform/http.ts'
import type { Logger } from '../platform/logger.ts'
import type { Metrics } from './metrics.ts'
import { registerMetricsRoutes } from './metrics.routes.ts'

export interface MetricsServerDeps {
  metrics: Metrics
  logger: Logger
  /** The API's authentication, so admin tokens work here as on the API. */
  authenticate: Authenticate
  scrapeToken?: string
}

/** A running metrics server. */
export interface MetricsServer {
  url: string
  close(): Promise<void>
}

/** Builds the app of the metrics port: `/metrics` and `/health/live`, nothing else. */
export function createMetricsApp(deps: MetricsServerDeps): OpenAPIHono<AppEnv> {
  const app = createRouter()
  app.use(requestContext(deps.logger))
  app.use(async (c, next) => {
    c.set('authenticate', deps.authenticate)
    await next()
  })
  app.onError(handleError)
  app.notFound(handleNotFound)
  registerMetricsRoutes(app, deps.metrics, { scrapeToken: deps.scrapeToken })
  registerLivenessRoute(app)
  return app
}

/** Serves the metrics app on `host:port`; port 0 picks a free one, which `url` then shows. */
export async function startMetricsServer(
  deps: MetricsServerDeps,
  host: string,
  port: number,
): Promise<MetricsServer> {
  const app = createMetricsApp(deps)
  const { server, boundPort } = await new Promise<{ server: ServerType; boundPort: number }>(
    (resolve, reject) => {
      const started = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
        resolve({ server: started, boundPort: info.port })
      })
      // Such as EADDRINUSE; without a listener the error would end the process.
      started.once('error', reject)
    },
  )
  const url = `http://${host}:${boundPort}`
  deps.logger.info('Metrics server listening', { url })

  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve()
        })
      }),
  }
}
