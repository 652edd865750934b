import type { RouteConfig } from '@hono/zod-openapi'
import type { HonoRequest, MiddlewareHandler } from 'hono'
import { AppError, ValidationError } from './errors.ts'
import { assertStorableJson } from './json-shape.ts'

const JSON_MEDIA_TYPE = /^application\/([a-z0-9.-]+\+)?json$/

/**
 * Checks the request body against the body the route declares. A body on a route that declares
 * none, and a missing body on a route that requires one, get 400 `MALFORMED_REQUEST`. Without
 * the first check, a body sent to a route that takes none, such as a DELETE, would be dropped
 * unread.
 * A body of a media type the route does not declare gets 415. A JSON body must also be storable
 * (see `assertStorableJson`), and a route that declares no query takes no query parameters.
 */
export function checkRequestBody(route: RouteConfig): MiddlewareHandler {
  const declared = route.request?.body
  const mediaTypes = Object.keys(declared?.content ?? {})
  return async (c, next) => {
    const present = await hasBody(c.req)
    if (!declared) {
      if (present) {
        throw new AppError(
          400,
          'MALFORMED_REQUEST',
          `${route.method.toUpperCase()} ${route.path} takes no request body; send it without one`,
        )
      }
    } else if (!present) {
      if (declared.required) {
        throw new AppError(
          400,
          'MALFORMED_REQUEST',
          `The request needs a body of type ${mediaTypes.join(' or ')}`,
        )
      }
    } else if (!mediaTypes.some((mediaType) => accepts(mediaType, c.req.header('content-type')))) {
      throw new AppError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `Send the body with Content-Type ${mediaTypes.join(' or ')}`,
      )
    } else if (JSON_MEDIA_TYPE.test(essenceOf(c.req.header('content-type')))) {
      // Broken JSON is left to the route's validator, which reports it as MALFORMED_REQUEST.
      const parsed = parseJson(await c.req.text())
      if (parsed.ok) assertStorableJson(parsed.value)
    }
    // A query parameter on a route that declares none would be ignored; a misspelt one is a
    // mistake the caller should hear of. Routes that declare a query check it themselves.
    const unknownParameter = route.request?.query ? undefined : Object.keys(c.req.queries())[0]
    if (unknownParameter !== undefined) {
      throw new ValidationError(`${route.method.toUpperCase()} ${route.path} takes no query`, [
        { path: unknownParameter, message: 'Unrecognized query parameter' },
      ])
    }
    await next()
  }
}

/**
 * True when the request has a body of at least one byte. A chunked body is read to find out.
 * Hono keeps what it read, so the validators and handlers read it again from that copy.
 */
async function hasBody(request: HonoRequest): Promise<boolean> {
  if (request.raw.body === null) return false
  const length = request.header('content-length')
  if (length !== undefined && request.header('transfer-encoding') === undefined) {
    return Number(length) > 0
  }
  return (await request.arrayBuffer()).byteLength > 0
}

/**
 * True when `declared` accepts the request's Content-Type. A declared JSON type accepts every
 * JSON type (`application/fhir+json` on a route that declares `application/json`), as the
 * validator of @hono/zod-openapi does.
 */
function accepts(declared: string, contentType: string | undefined): boolean {
  const essence = essenceOf(contentType)
  if (essence === declared) return true
  return JSON_MEDIA_TYPE.test(declared) && JSON_MEDIA_TYPE.test(essence)
}

/** Returns the media type of a Content-Type value without its parameters, in lower case. */
function essenceOf(contentType: string | undefined): string {
  return contentType?.split(';')[0]?.trim().toLowerCase() ?? ''
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return { ok: false }
  }
}
