import { z } from '@hono/zod-openapi'
import { ValidationError } from './errors.ts'

/** Checks a FHIR date of any precision (`1980`, `1980-05`, `1980-05-17`) for a real calendar day. */
export function isValidFhirDate(value: string): boolean {
  const match = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value)
  if (!match) return false
  const month = match[2] === undefined ? 1 : Number(match[2])
  const day = match[3] === undefined ? 1 : Number(match[3])
  // FHIR's date pattern has no year 0000.
  if (Number(match[1]) === 0 || month < 1 || month > 12 || day < 1) return false
  const daysInMonth = new Date(Date.UTC(Number(match[1]), month, 0)).getUTCDate()
  return day <= daysInMonth
}

/** A FHIR `date`: year, year-month or full date, kept at the precision it was given. */
export const fhirDateSchema = z
  .string()
  // `abort` stops later checks, such as "not in the future", from judging a malformed value.
  .refine(isValidFhirDate, { error: 'Expected a date as YYYY, YYYY-MM or YYYY-MM-DD', abort: true })
  .openapi({ example: '1980-05' })

// Hours 00-23, minutes 00-59, seconds 00-60 (a leap second) and zone offsets up to 14:00, as in
// FHIR R4's dateTime pattern. A time needs its seconds: HAPI 8.8's validator rejects 10:30Z.
// isValidFhirDate checks the calendar day.
const FHIR_TIME = String.raw`([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?`
const FHIR_ZONE = String.raw`(Z|[+-](0\d|1[0-3]):[0-5]\d|[+-]14:00)`
const FHIR_DATE_TIME = new RegExp(String.raw`^\d{4}(-\d{2}(-\d{2}(T${FHIR_TIME}${FHIR_ZONE})?)?)?$`)

/** A FHIR `dateTime`: any date precision, or a time with a zone offset. */
export const fhirDateTimeSchema = z
  .string()
  .refine(
    (value) => FHIR_DATE_TIME.test(value) && isValidFhirDate(value.slice(0, 10).replace(/-$/, '')),
    {
      error: 'Expected a FHIR dateTime such as 2019-04-02 or 2019-04-02T10:30:00+02:00',
      abort: true,
    },
  )
  .openapi({ example: '2019-04-02T10:30:00Z' })

export const problemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://brain-registry.example.org/problems/not-found' }),
    title: z.string().openapi({ example: 'Not Found' }),
    status: z.number().int().openapi({ example: 404 }),
    detail: z.string().openapi({ example: 'Patient 0b5e… was not found' }),
    instance: z.string().openapi({ example: '/patients/0b5e…' }),
    code: z.string().openapi({ example: 'NOT_FOUND' }),
    requestId: z.string(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'One entry per invalid field, for validation failures' }),
  })
  .openapi('Problem')

const problemContent = { 'application/problem+json': { schema: problemSchema } }

/** Error responses shared by the routes, for their OpenAPI descriptions. */
export const ERROR_RESPONSES = {
  400: { description: 'Invalid request', content: problemContent },
  401: { description: 'Credentials missing or wrong', content: problemContent },
  403: { description: 'The caller lacks a role this route allows', content: problemContent },
  404: { description: 'Not found', content: problemContent },
  409: { description: 'Conflicts with the current state', content: problemContent },
  412: {
    description: 'If-Match names a version that is no longer current',
    content: problemContent,
  },
  428: { description: 'If-Match is missing', content: problemContent },
  429: { description: 'Too many requests; see Retry-After', content: problemContent },
} as const

/** Error responses of a versioned write (PUT, PATCH, DELETE) of one entity. */
export const WRITE_ERROR_RESPONSES = {
  400: ERROR_RESPONSES[400],
  404: ERROR_RESPONSES[404],
  409: ERROR_RESPONSES[409],
  412: ERROR_RESPONSES[412],
  428: ERROR_RESPONSES[428],
} as const

export const idParamSchema = z.object({
  id: z.uuid().openapi({
    param: { name: 'id', in: 'path' },
    example: '5f0c6f0e-7d55-4a5e-9b1b-1c6f4f1f2a3b',
  }),
})

export const ifMatchHeaderSchema = z.object({
  'if-match': z.string().optional().openapi({
    description: 'ETag of the version being replaced, as returned by a read',
    example: '"3"',
  }),
})

/** Reads the row version out of an If-Match value such as `"3"` or `W/"3"`. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined
  const match = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(header)
  const version = Number(match?.[1])
  return Number.isSafeInteger(version) ? version : Number.NaN
}

/** Reads If-Match, rejecting a value that names no version. */
export function expectedVersionOf(header: string | undefined): number | undefined {
  const version = parseIfMatch(header)
  if (Number.isNaN(version)) {
    throw new ValidationError('If-Match is not a version ETag', [
      { path: 'If-Match', message: 'Send the ETag of a read unchanged, such as "3"' },
    ])
  }
  return version
}

// Strict, like every query schema: a misspelt filter would otherwise be dropped and the list
// would return every row.
export const pageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ example: 50 }),
  cursor: z
    .string()
    .max(256)
    .optional()
    .openapi({ description: 'The `nextCursor` of the previous page' }),
})

export const syncStatusSchema = z.object({
  fhirId: z.string().nullable(),
  fhirVersionId: z.number().int().nullable(),
  state: z.enum(['pending', 'synced', 'conflict', 'failed']),
  error: z.string().nullable(),
})

/** OpenAPI content entry for a JSON body described by `schema`. */
export function jsonContent<T extends z.ZodType>(schema: T) {
  return { 'application/json': { schema } }
}
