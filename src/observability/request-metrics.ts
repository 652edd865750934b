import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import type { AppEnv } from '../platform/http.ts'

/** Recorder of request durations, implemented by `Metrics`. */
export interface RequestMetrics {
  observeRequest(method: string, route: string, status: number, seconds: number): void
}

/**
 * Records each request's duration by method, route template and status. The template, such as
 * `/patients/:id`, keeps ids out of the labels; an unmatched path shows as the pattern of the last
 * middleware it passed (`/*`).
 */
export function recordRequestDuration(metrics: RequestMetrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now()
    await next()

    const seconds = (performance.now() - started) / 1000
    metrics.observeRequest(c.req.method, routePath(c, -1), c.res.status, seconds)
  }
}
