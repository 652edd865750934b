import { ValidationError } from './errors.ts'

/**
 * Deepest nesting of arrays and objects a request body may have. FHIR resources nest a few
 * levels deep, extensions a few more; HAPI 8.8 rejects JSON nested over 1,000 levels, and
 * Node's JSON.stringify overflows its stack long before a 5 MiB body runs out.
 */
export const MAX_JSON_DEPTH = 64

/**
 * Maximum length of any string in a body. The schemas cap each field they know far lower; this bounds
 * what they pass through unchecked, such as extension values.
 */
export const MAX_JSON_STRING_LENGTH = 100_000

/**
 * Checks a parsed JSON body for what Postgres and HAPI cannot take: nesting deeper than
 * `MAX_JSON_DEPTH`, strings or keys with a lone UTF-16 surrogate, which JSON escapes such as
 * `\ud800` can produce and which jsonb rejects, and strings over `MAX_JSON_STRING_LENGTH`. The walk uses its own stack, so a body nested
 * far too deep is reported, not a stack overflow.
 */
export function assertStorableJson(body: unknown): void {
  const pending: { value: unknown; path: string; depth: number }[] = [
    { value: body, path: '', depth: 0 },
  ]
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const { value, path, depth } = item
    if (typeof value === 'string') {
      if (!value.isWellFormed()) throw invalid(path, 'Contains a lone UTF-16 surrogate')
      if (value.length > MAX_JSON_STRING_LENGTH) {
        throw invalid(path, `Longer than ${MAX_JSON_STRING_LENGTH} characters`)
      }
      continue
    }
    if (typeof value !== 'object' || value === null) continue
    if (depth >= MAX_JSON_DEPTH) {
      throw invalid(path, `Nested deeper than ${MAX_JSON_DEPTH} levels`)
    }
    for (const [key, child] of Object.entries(value)) {
      if (!key.isWellFormed()) throw invalid(path, 'Contains a key with a lone UTF-16 surrogate')
      pending.push({ value: child, path: path === '' ? key : `${path}.${key}`, depth: depth + 1 })
    }
  }
}

function invalid(path: string, message: string): ValidationError {
  return new ValidationError('The request body cannot be stored', [
    { path: path === '' ? '(body)' : path, message },
  ])
}
