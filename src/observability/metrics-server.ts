import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import { handleNotFound, type AppEnv } from '../platform/http.ts'
import type { Logger } from '../platform/logger.ts'
import { METRICS_PATH } from './metrics.routes.ts'

/** Paths the metrics port passes on to the API app; every other path gets 404. */
const FORWARDED_PATHS = [METRICS_PATH, '/health/live']

export interface MetricsServerDeps {
  /** The registry's API app, which handles the forwarded requests with its own access rules. */
  api: { fetch(request: Request): Response | Promise<Response> }
  logger: Logger
}

/** A running metrics server. */
export interface MetricsServer {
  url: string
  close(): Promise<void>
}

/**
 * Builds the app of the metrics port. It hands `GET /metrics` and `GET /health/live` to the API
 * app, so the token rules, request ids and request metrics are the API's own. Every other request
 * gets 404.
 */
export function createMetricsApp(deps: MetricsServerDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  app.on(['GET', 'HEAD'], FORWARDED_PATHS, (c) => deps.api.fetch(c.req.raw))
  app.notFound((c) => {
    c.set('requestId', crypto.randomUUID())
    return handleNotFound(c)
  })
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
