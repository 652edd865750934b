import { describe, expect, it } from 'vitest'
import { createMetricsApp } from './metrics-server.ts'
import type { Logger } from '../platform/logger.ts'

const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  child: () => silentLogger,
}

/** Stands in for the API app: responds 200 with the path and Authorization it received. */
const api = {
  fetch: (request: Request) =>
    Response.json({
      path: new URL(request.url).pathname,
      authorization: request.headers.get('authorization'),
    }),
}

describe('createMetricsApp', () => {
  it.each(['/metrics', '/health/live'])('passes GET %s to the API app', async (path) => {
    const app = createMetricsApp({ api, logger: silentLogger })

    const response = await app.request(path, { headers: { Authorization: 'Bearer token' } })
    const body = (await response.json()) as { path: string; authorization: string }

    expect(response.status).toBe(200)
    expect(body.path).toBe(path)
    expect(body.authorization).toBe('Bearer token')
  })

  it.each([
    ['GET', '/patients'],
    ['GET', '/health/ready'],
    ['POST', '/metrics'],
  ])('rejects %s %s with 404', async (method, path) => {
    const app = createMetricsApp({ api, logger: silentLogger })

    const response = await app.request(path, { method })
    const problem = (await response.json()) as { code: string }

    expect(response.status).toBe(404)
    expect(problem.code).toBe('ROUTE_NOT_FOUND')
  })
})
