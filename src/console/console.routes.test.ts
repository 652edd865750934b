import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRouter, handleNotFound } from '../platform/http.ts'
import { registerConsoleRoutes } from './console.routes.ts'

const INDEX_HTML = '<!doctype html><title>console</title><script src="/console/assets/app.js">'

let built: string
let empty: string

beforeAll(async () => {
  built = await mkdtemp(join(tmpdir(), 'console-built-'))
  await mkdir(join(built, 'assets'))
  await writeFile(join(built, 'index.html'), INDEX_HTML)
  await writeFile(join(built, 'assets', 'app.js'), 'console.log(1)')
  empty = await mkdtemp(join(tmpdir(), 'console-empty-'))
})

afterAll(async () => {
  await rm(built, { recursive: true })
  await rm(empty, { recursive: true })
})

function consoleApp(directory: string) {
  const app = createRouter()
  app.notFound(handleNotFound)
  registerConsoleRoutes(app, directory)
  return app
}

describe('console routes', () => {
  it('redirects the root to the console', async () => {
    const response = await consoleApp(built).request('/')

    expect(response.status).toBe(302)
    expect(response.headers.get('Location')).toBe('/console/')
  })

  it.each(['/console/', '/console/conflicts/1234', '/console/sync'])(
    'serves index.html at %s',
    async (path) => {
      const response = await consoleApp(built).request(path)

      expect(response.status).toBe(200)
      expect(await response.text()).toBe(INDEX_HTML)
      expect(response.headers.get('Cache-Control')).toBe('no-cache')
      expect(response.headers.get('Content-Security-Policy')).toContain("script-src 'self'")
      expect(response.headers.get('X-Frame-Options')).toBe('DENY')
    },
  )

  it('serves an asset with a long cache', async () => {
    const response = await consoleApp(built).request('/console/assets/app.js')

    expect(response.status).toBe(200)
    expect(await response.text()).toBe('console.log(1)')
    expect(response.headers.get('Content-Type')).toContain('javascript')
    expect(response.headers.get('Cache-Control')).toContain('immutable')
  })

  it('answers 404 for a missing asset', async () => {
    const response = await consoleApp(built).request('/console/assets/missing.js')

    expect(response.status).toBe(404)
    expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' })
  })

  it('rejects a path that climbs out of the folder', async () => {
    const response = await consoleApp(built).request('/console/assets/..%2f..%2fetc%2fpasswd')

    expect(response.status).toBe(404)
  })

  it('answers 503 when the console is not built', async () => {
    const response = await consoleApp(empty).request('/console/conflicts')

    expect(response.status).toBe(503)
    expect(response.headers.get('Content-Type')).toBe('application/problem+json')
    expect(await response.json()).toMatchObject({ code: 'CONSOLE_NOT_BUILT' })
  })
})
