import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { serveStatic } from '@hono/node-server/serve-static'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import { problemResponse, type AppEnv } from '../platform/http.ts'

/** Path under which the API serves the web console. */
export const CONSOLE_PATH = '/console'

// The built page loads only its own scripts and styles and calls only this origin. Nothing is
// inline, so a strict policy costs nothing and stops an injected script from running.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ')

function setPageHeaders(c: Context<AppEnv>) {
  c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  c.header('X-Content-Type-Options', 'nosniff')
  c.header('X-Frame-Options', 'DENY')
  c.header('Referrer-Policy', 'no-referrer')
}

/**
 * Serves the built web console from `directory`. Files under `assets/` are served by name and
 * cached for a year, because Vite puts a content hash in each name. Every other path under
 * /console gets `index.html`, so the console's own router handles reloads and shared links.
 * Without a build, the console paths return 503 `CONSOLE_NOT_BUILT` and the API works as before.
 */
export function registerConsoleRoutes(app: OpenAPIHono<AppEnv>, directory: string) {
  const indexFile = join(directory, 'index.html')

  app.get('/', (c) => c.redirect(`${CONSOLE_PATH}/`))
  app.get(CONSOLE_PATH, (c) => c.redirect(`${CONSOLE_PATH}/`))
  app.use(`${CONSOLE_PATH}/assets/*`, async (c, next) => {
    await next()
    // Set after the file is found: serveStatic builds its response before its onFound hook
    // runs, and a 404 must not be cached for a year.
    if (c.res.status === 200) {
      c.res.headers.set('Cache-Control', 'public, max-age=31536000, immutable')
      c.res.headers.set('X-Content-Type-Options', 'nosniff')
    }
  })
  // Made at the first request, because serveStatic prints an error when its folder is missing
  // at creation, and a registry may start before its console is built.
  let serveAssets: MiddlewareHandler<AppEnv> | undefined
  const assets: MiddlewareHandler<AppEnv> = (c, next) => {
    serveAssets ??= serveStatic<AppEnv>({
      root: directory,
      rewriteRequestPath: (path) => path.slice(CONSOLE_PATH.length),
    })
    return serveAssets(c, next)
  }
  app.use(`${CONSOLE_PATH}/assets/*`, assets)
  app.get(`${CONSOLE_PATH}/assets/*`, (c) =>
    problemResponse(c, 404, 'NOT_FOUND', `No console file at ${c.req.path}`),
  )
  app.get(`${CONSOLE_PATH}/*`, async (c) => {
    if (!existsSync(indexFile)) {
      return problemResponse(
        c,
        503,
        'CONSOLE_NOT_BUILT',
        `The web console is not built in ${directory}; run npm run build`,
      )
    }
    setPageHeaders(c)
    // The page names the hashed asset files of the current build, so it is checked every time.
    c.header('Cache-Control', 'no-cache')
    return c.html(await readFile(indexFile, 'utf8'))
  })
}
