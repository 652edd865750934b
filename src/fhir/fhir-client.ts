import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes'
import { FHIR_JSON } from './constants.ts'

export type FetchFunction = typeof fetch

/**
 * A failed request to the FHIR server. `issues` are the OperationOutcome issues HAPI returned,
 * when it returned any; `retryable` is true when the same request may succeed later.
 */
export class FhirRequestError extends Error {
  override name = 'FhirRequestError'
  readonly status: number
  readonly method: string
  readonly url: string
  readonly issues: readonly OperationOutcomeIssue[]
  /** Seconds the server asked the client to wait (Retry-After on 429 and 503), else null. */
  readonly retryAfterSeconds: number | null

  constructor(
    method: string,
    url: string,
    status: number,
    issues: readonly OperationOutcomeIssue[],
    options: { cause?: unknown; retryAfterSeconds?: number | null } = {},
  ) {
    // The message reaches logs and the stored sync error, so it leaves out the URL's search
    // values and the values HAPI quotes, which can be patient data. `url` and `issues` keep them.
    const detail = issues
      .map((issue) => maskQuotedValues(issue.diagnostics ?? issue.code))
      .join('; ')
    const target = withoutSearchValues(url)
    super(
      status === 0
        ? `${method} ${target} failed before a response: ${String(options.cause)}`
        : `${method} ${target} returned ${status}${detail ? `: ${detail}` : ''}`,
      options,
    )
    this.method = method
    this.url = url
    this.status = status
    this.issues = issues
    this.retryAfterSeconds = options.retryAfterSeconds ?? null
  }

  /** True for a version clash: HAPI returns 409 for a stale If-Match, other servers 412. */
  get isVersionConflict(): boolean {
    return this.status === 409 || this.status === 412
  }

  /** Network failures, timeouts, 408, 429 and 5xx may pass on retry; other 4xx will not. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500
  }
}

/**
 * Replaces each search value of a URL with `…` and keeps the parameter names, because a search
 * such as `Patient?identifier=system|MRN` carries patient data.
 */
export function withoutSearchValues(url: string): string {
  const parsed = URL.parse(url)
  if (!parsed || parsed.search === '') return url
  const names = [...parsed.searchParams.keys()].map((name) => `${name}=…`)
  return `${parsed.origin}${parsed.pathname}?${names.join('&')}`
}

/**
 * Replaces the quoted values in HAPI's diagnostics with `"…"`, keeping quoted element names. A
 * parse error quotes the value it rejected, as in HAPI 8.8's `HAPI-1821: [element="birthDate"]
 * Invalid attribute value "1937-13-45"` and `Unknown AdministrativeGender code 'zzz'`.
 */
export function maskQuotedValues(text: string): string {
  return text.replace(/(element=)?("[^"]*"|'[^'\s]+')/g, (match, element: string | undefined) =>
    element ? match : '"…"',
  )
}

export interface FhirClientOptions {
  baseUrl: string
  timeoutMs: number
  /** `meta.source` stamped on every resource this client writes. */
  sourceUri: string
  fetch?: FetchFunction
}

export interface WriteOptions {
  /** Version id the write replaces; HAPI rejects the write when it is no longer current. */
  ifMatchVersion?: number
  /** Sent as X-Request-ID; HAPI keeps at most 16 characters of it in `meta.source`. */
  requestId?: string
}

/** Result of a read that distinguishes a deleted resource (HTTP 410) from a missing one (404). */
export type ReadState<T extends Resource> =
  { status: 'found'; resource: T } | { status: 'deleted' } | { status: 'missing' }

/** Small client for the HAPI FHIR R4 REST API. */
export class FhirClient {
  readonly baseUrl: string
  readonly #timeoutMs: number
  readonly #sourceUri: string
  readonly #fetch: FetchFunction

  constructor(options: FhirClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.#timeoutMs = options.timeoutMs
    this.#sourceUri = options.sourceUri
    this.#fetch = options.fetch ?? fetch
  }

  /** Reads the server's CapabilityStatement, which HAPI serves once it is up. */
  async capabilities(): Promise<Resource> {
    return this.#request<Resource>('GET', 'metadata?_summary=true')
  }

  /** Reads the current version of a resource; returns null when it does not exist or was deleted. */
  async read<T extends Resource>(type: T['resourceType'], id: string): Promise<T | null> {
    try {
      return await this.#request<T>('GET', `${type}/${encodeURIComponent(id)}`)
    } catch (error) {
      if (error instanceof FhirRequestError && (error.status === 404 || error.status === 410)) {
        return null
      }
      throw error
    }
  }

  /** Creates or updates a resource under its own id and returns the stored version. */
  async update<T extends Resource>(resource: T, options: WriteOptions = {}): Promise<T> {
    if (!resource.id) throw new Error(`${resource.resourceType} has no id to update`)
    const headers: Record<string, string> = {}
    if (options.ifMatchVersion !== undefined) headers['If-Match'] = `W/"${options.ifMatchVersion}"`
    return this.#request<T>('PUT', `${resource.resourceType}/${encodeURIComponent(resource.id)}`, {
      body: this.#stamp(resource),
      headers,
      requestId: options.requestId,
    })
  }

  /**
   * Deletes a resource. With `ifMatchVersion` the delete names that version in its URL
   * (`Type/id/_history/n`), and HAPI returns 409 when it is no longer current: HAPI 8.8 ignores
   * an If-Match header on DELETE, and `ifMatch` or a versioned URL in a transaction entry.
   */
  async delete(type: string, id: string, options: WriteOptions = {}): Promise<void> {
    const path =
      options.ifMatchVersion === undefined
        ? `${type}/${encodeURIComponent(id)}`
        : `${type}/${encodeURIComponent(id)}/_history/${String(options.ifMatchVersion)}`
    await this.#request('DELETE', path, { requestId: options.requestId })
  }

  /** Runs one search and returns its first page. */
  async search<T extends Resource>(
    type: T['resourceType'],
    params: Record<string, string>,
  ): Promise<Bundle<T>> {
    return this.#request<Bundle<T>>('GET', `${type}?${new URLSearchParams(params).toString()}`)
  }

  /** Runs a search and follows its `next` links; returns every matching resource. */
  async searchAll<T extends Resource>(
    type: T['resourceType'],
    params: Record<string, string>,
  ): Promise<T[]> {
    const resources: T[] = []
    let page: Bundle<T> | null = await this.search<T>(type, params)
    while (page) {
      for (const entry of page.entry ?? []) {
        if (entry.resource?.resourceType === type) resources.push(entry.resource)
      }
      const next: string | undefined = page.link?.find((link) => link.relation === 'next')?.url
      page = next ? await this.#request<Bundle<T>>('GET', next) : null
    }
    return resources
  }

  /**
   * Reads the first page of a resource type's history, newest first. The entry of a deleted
   * version has `request.method` DELETE and no resource.
   */
  async history(type: string, params: Record<string, string>): Promise<Bundle> {
    const query = new URLSearchParams(params).toString()
    return this.#request<Bundle>('GET', `${type}/_history?${query}`)
  }

  /** Reads the page that the `next` link of a search or history page names; null on the last page. */
  async nextPage<T extends Resource>(page: Bundle<T>): Promise<Bundle<T> | null> {
    const next = page.link?.find((link) => link.relation === 'next')?.url
    return next ? this.#request<Bundle<T>>('GET', next) : null
  }

  /**
   * Reads the current version of a resource, telling a deleted resource (410) from one that
   * never existed (404), which `read` both returns as null.
   */
  async readState<T extends Resource>(type: T['resourceType'], id: string): Promise<ReadState<T>> {
    try {
      const resource = await this.#request<T>('GET', `${type}/${encodeURIComponent(id)}`)
      return { status: 'found', resource }
    } catch (error) {
      if (error instanceof FhirRequestError && error.status === 410) return { status: 'deleted' }
      if (error instanceof FhirRequestError && error.status === 404) return { status: 'missing' }
      throw error
    }
  }

  /** Posts a transaction or batch Bundle to the base and returns the response Bundle. */
  async transaction(bundle: Bundle, options: WriteOptions = {}): Promise<Bundle> {
    const stamped: Bundle = {
      ...bundle,
      entry: bundle.entry?.map((entry) =>
        entry.resource ? { ...entry, resource: this.#stamp(entry.resource) } : entry,
      ),
    }
    return this.#request<Bundle>('POST', '', { body: stamped, requestId: options.requestId })
  }

  /** Posts any resource to a path below the base, such as a Subscription to `Subscription`. */
  async post<T extends Resource>(path: string, body: Resource): Promise<T> {
    return this.#request<T>('POST', path, { body })
  }

  #stamp<T extends Resource>(resource: T): T {
    return { ...resource, meta: { ...resource.meta, source: this.#sourceUri } }
  }

  async #request<T>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; requestId?: string } = {},
  ): Promise<T> {
    const url = path.startsWith('http') ? path : `${this.baseUrl}/${path}`
    const headers: Record<string, string> = {
      Accept: FHIR_JSON,
      // HAPI may return a cached result set for a repeated search, and a poller must see fresh data.
      'Cache-Control': 'no-cache',
      ...options.headers,
    }
    if (options.body !== undefined) {
      headers['Content-Type'] = `${FHIR_JSON}; charset=utf-8`
      headers.Prefer = 'return=representation'
    }
    if (options.requestId) headers['X-Request-ID'] = options.requestId

    let response: Response
    let text: string
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
      // The timeout also covers reading the body, so the read stays inside this try.
      text = await response.text()
    } catch (error) {
      throw new FhirRequestError(method, url, 0, [], { cause: error })
    }

    const body = parseJson(text)
    if (!response.ok) {
      throw new FhirRequestError(method, url, response.status, operationOutcomeIssues(body), {
        retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after'), Date.now()),
      })
    }
    return body as T
  }
}

/**
 * Reads a Retry-After header, which contains either whole seconds or an HTTP date, as seconds from
 * `nowMs`. Returns null when the header is missing or unreadable, and 0 for a date in the past.
 */
export function parseRetryAfter(header: string | null, nowMs: number): number | null {
  if (header === null || header.trim() === '') return null
  const value = header.trim()
  if (/^\d+$/.test(value)) return Number(value)
  // HTTP dates start with the day name; Date.parse would also take strings such as "-5" as years.
  if (!/^[A-Za-z]{3}/.test(value)) return null
  const dateMs = Date.parse(value)
  if (Number.isNaN(dateMs)) return null
  return Math.max(0, Math.ceil((dateMs - nowMs) / 1000))
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

function operationOutcomeIssues(body: unknown): OperationOutcomeIssue[] {
  if (
    typeof body === 'object' &&
    body !== null &&
    (body as Resource).resourceType === 'OperationOutcome'
  ) {
    return (body as { issue?: OperationOutcomeIssue[] }).issue ?? []
  }
  return []
}

/** Reads `meta.versionId` as the integer HAPI issues. */
export function versionIdOf(resource: Resource): number {
  const versionId = Number(resource.meta?.versionId)
  if (!Number.isInteger(versionId) || versionId < 1) {
    throw new Error(`${resource.resourceType}/${resource.id ?? '?'} has no integer meta.versionId`)
  }
  return versionId
}
