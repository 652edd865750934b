/** One entry of a problem's `errors`: the field's JSON path (`names.0.family`) and what is wrong. */
export interface FieldProblem {
  path: string
  message: string
}

/** The API's error body (`application/problem+json`). */
export interface Problem {
  type?: string
  title?: string
  status: number
  detail?: string
  code?: string
  requestId?: string
  errors?: FieldProblem[]
}

/** A non-2xx response of the API, with its problem document. */
export class ApiError extends Error {
  override name = 'ApiError'
  readonly status: number
  readonly code: string
  readonly requestId: string | undefined
  readonly errors: FieldProblem[]

  constructor(problem: Problem) {
    super(problem.detail ?? problem.title ?? `Request failed with status ${problem.status}`)
    this.status = problem.status
    this.code = problem.code ?? 'UNKNOWN'
    this.requestId = problem.requestId
    this.errors = problem.errors ?? []
  }
}

/** Codes of a 401 after which the caller must sign in again. */
const SIGN_IN_AGAIN = new Set([
  'TOKEN_MISSING',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_REVOKED',
  'TOKEN_ISSUER_UNKNOWN',
])

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  body?: unknown
  query?: Record<string, string | number | undefined>
  headers?: Record<string, string>
}

/**
 * Calls the registry API with one caller's token. `onSignedOut` runs when the token stops
 * working, and `onForbidden` after a 403, since the caller's roles may have changed.
 */
export class ApiClient {
  readonly #token: string
  readonly #onSignedOut: (reason: ApiError) => void
  readonly #onForbidden: () => void

  constructor(token: string, onSignedOut: (reason: ApiError) => void, onForbidden: () => void) {
    this.#token = token
    this.#onSignedOut = onSignedOut
    this.#onForbidden = onForbidden
  }

  /** Sends one request and returns its parsed JSON body, or raises ApiError for a non-2xx response. */
  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = {
      Accept: 'application/json',
      Authorization: `Bearer ${this.#token}`,
      ...options.headers,
    }
    if (options.body !== undefined) headers['Content-Type'] = 'application/json'
    const response = await fetch(withQuery(path, options.query), {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    })

    if (response.ok) {
      return (response.status === 204 ? undefined : await response.json()) as T
    }
    const error = new ApiError(await problemOf(response))
    if (error.status === 401 && SIGN_IN_AGAIN.has(error.code)) this.#onSignedOut(error)
    if (error.status === 403) this.#onForbidden()
    throw error
  }
}

/** Appends the defined query parameters to a path. */
export function withQuery(path: string, query: RequestOptions['query'] = {}): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value))
  }
  const text = params.toString()
  return text === '' ? path : `${path}?${text}`
}

/** Reads a problem body, or builds one when a proxy returned something else. */
export async function problemOf(response: Response): Promise<Problem> {
  const type = response.headers.get('Content-Type') ?? ''
  if (type.includes('json')) {
    try {
      return { status: response.status, ...((await response.json()) as Partial<Problem>) }
    } catch {
      // Falls through to the generic problem below.
    }
  }
  return {
    status: response.status,
    detail: `The server returned ${response.status} ${response.statusText}`.trim(),
  }
}

/** A human sentence for any error a page shows, with the code and request id when known. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const reference = error.requestId === undefined ? '' : `, request ${error.requestId}`
    return `${error.message} (${error.code}${reference})`
  }
  if (error instanceof TypeError) return 'The registry could not be reached; check the connection'
  return error instanceof Error ? error.message : String(error)
}
