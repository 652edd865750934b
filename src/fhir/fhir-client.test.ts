import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes'
import { delay, http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FhirClient, FhirRequestError, parseRetryAfter, versionIdOf } from './fhir-client.ts'

const BASE_URL = 'http://hapi.test/fhir'
const SOURCE_URI = 'https://brain-registry.example.org/fhir/source/registry'

const server = setupServer()

beforeAll(() => {
  server.listen({ onUnhandledFrame: 'error' })
})
afterEach(() => {
  server.resetHandlers()
})
afterAll(() => {
  server.close()
})

function createClient(timeoutMs = 2_000): FhirClient {
  return new FhirClient({ baseUrl: `${BASE_URL}/`, timeoutMs, sourceUri: SOURCE_URI })
}

const PATIENT: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  meta: {
    versionId: '3',
    profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'],
  },
  name: [{ family: 'Ordóñez', given: ['Bernardo'] }],
}

const CONFLICT_OUTCOME: OperationOutcome = {
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'conflict',
      diagnostics:
        'HAPI-0989: Trying to update Patient/p1/_history/3 but this is not the current version',
    },
  ],
}

async function requestError(promise: Promise<unknown>): Promise<FhirRequestError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof FhirRequestError) return error
    throw error
  }
  throw new Error('Request succeeded, but a FhirRequestError was expected')
}

interface CapturedRequest {
  method: string
  url: string
  headers: Headers
  body: unknown
}

/** Responds to every request for Patient/:id with `response` and records each request. */
function capturePatientRequests(response: () => Response): CapturedRequest[] {
  const captured: CapturedRequest[] = []
  const resolver = async ({ request }: { request: Request }): Promise<Response> => {
    const text = await request.text()
    captured.push({
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: text === '' ? undefined : JSON.parse(text),
    })
    return response()
  }
  server.use(http.all(`${BASE_URL}/Patient/:id`, resolver))
  return captured
}

describe('FhirClient.update', () => {
  it('sends If-Match as a weak ETag', async () => {
    const captured = capturePatientRequests(() => HttpResponse.json(PATIENT))

    await createClient().update(PATIENT, { ifMatchVersion: 3 })

    expect(captured[0]?.headers.get('if-match')).toBe('W/"3"')
  })

  it('sends no If-Match without a version', async () => {
    const captured = capturePatientRequests(() => HttpResponse.json(PATIENT))

    await createClient().update(PATIENT)

    expect(captured[0]?.headers.has('if-match')).toBe(false)
  })

  it('puts the resource at its own URL', async () => {
    const captured = capturePatientRequests(() => HttpResponse.json(PATIENT))

    await createClient().update(PATIENT)

    expect(captured[0]?.method).toBe('PUT')
    expect(captured[0]?.url).toBe(`${BASE_URL}/Patient/p1`)
  })

  it('stamps meta.source and keeps the rest of meta', async () => {
    const captured = capturePatientRequests(() => HttpResponse.json(PATIENT))

    await createClient().update(PATIENT)

    expect(captured[0]?.body).toEqual({ ...PATIENT, meta: { ...PATIENT.meta, source: SOURCE_URI } })
  })

  it('leaves the given resource unchanged', async () => {
    capturePatientRequests(() => HttpResponse.json(PATIENT))
    const resource = structuredClone(PATIENT)

    await createClient().update(resource)

    expect(resource).toEqual(PATIENT)
  })

  it('sends X-Request-ID', async () => {
    const captured = capturePatientRequests(() => HttpResponse.json(PATIENT))

    await createClient().update(PATIENT, { requestId: 'job-42' })

    expect(captured[0]?.headers.get('x-request-id')).toBe('job-42')
  })

  it('sends FHIR JSON with return=representation', async () => {
    const captured = capturePatientRequests(() => HttpResponse.json(PATIENT))

    await createClient().update(PATIENT)

    expect(captured[0]?.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8')
    expect(captured[0]?.headers.get('prefer')).toBe('return=representation')
  })

  it('returns the stored version', async () => {
    const stored: Patient = { ...PATIENT, meta: { versionId: '4' } }
    capturePatientRequests(() => HttpResponse.json(stored))

    const result = await createClient().update(PATIENT)

    expect(result).toEqual(stored)
  })

  it('rejects a resource without id', async () => {
    const withoutId: Patient = { ...PATIENT, id: undefined }

    await expect(createClient().update(withoutId)).rejects.toThrow(Error)
  })

  it.each([409, 412])('reports %i as a version conflict', async (status) => {
    capturePatientRequests(() => HttpResponse.json(CONFLICT_OUTCOME, { status }))

    const error = await requestError(createClient().update(PATIENT, { ifMatchVersion: 3 }))

    expect(error.status).toBe(status)
    expect(error.isVersionConflict).toBe(true)
    expect(error.retryable).toBe(false)
    expect(error.issues).toEqual(CONFLICT_OUTCOME.issue)
    expect(error.method).toBe('PUT')
  })
})

describe('FhirClient.read', () => {
  it('sends Cache-Control no-cache', async () => {
    const captured = capturePatientRequests(() => HttpResponse.json(PATIENT))

    await createClient().read<Patient>('Patient', 'p1')

    expect(captured[0]?.headers.get('cache-control')).toBe('no-cache')
    expect(captured[0]?.headers.get('accept')).toBe('application/fhir+json')
  })

  it('returns the resource', async () => {
    capturePatientRequests(() => HttpResponse.json(PATIENT))

    const result = await createClient().read<Patient>('Patient', 'p1')

    expect(result).toEqual(PATIENT)
  })

  it.each([404, 410])('returns null on %i', async (status) => {
    capturePatientRequests(() =>
      HttpResponse.json({ resourceType: 'OperationOutcome' }, { status }),
    )

    const result = await createClient().read<Patient>('Patient', 'p1')

    expect(result).toBeNull()
  })

  it.each([
    [500, true],
    [502, true],
    [503, true],
    [429, true],
    [408, true],
    [400, false],
    [401, false],
    [403, false],
    [422, false],
  ])('reports %i with retryable %s', async (status, retryable) => {
    capturePatientRequests(() => new HttpResponse('upstream failure', { status }))

    const error = await requestError(createClient().read<Patient>('Patient', 'p1'))

    expect(error.status).toBe(status)
    expect(error.retryable).toBe(retryable)
    expect(error.isVersionConflict).toBe(false)
    expect(error.issues).toEqual([])
  })

  it('keeps the Retry-After of a 429', async () => {
    capturePatientRequests(
      () => new HttpResponse('slow down', { status: 429, headers: { 'Retry-After': '7' } }),
    )

    const error = await requestError(createClient().read<Patient>('Patient', 'p1'))

    expect(error.retryAfterSeconds).toBe(7)
  })

  it('reports no Retry-After when the header is missing', async () => {
    capturePatientRequests(() => new HttpResponse('unavailable', { status: 503 }))

    const error = await requestError(createClient().read<Patient>('Patient', 'p1'))

    expect(error.retryAfterSeconds).toBeNull()
  })

  it('reports a network error as status 0', async () => {
    capturePatientRequests(() => HttpResponse.error())

    const error = await requestError(createClient().read<Patient>('Patient', 'p1'))

    expect(error.status).toBe(0)
    expect(error.retryable).toBe(true)
    expect(error.cause).toBeInstanceOf(Error)
  })

  it('reports a timeout as status 0', async () => {
    server.use(
      http.get(`${BASE_URL}/Patient/:id`, async () => {
        await delay(1_000)
        return HttpResponse.json(PATIENT)
      }),
    )

    const error = await requestError(createClient(50).read<Patient>('Patient', 'p1'))

    expect(error.status).toBe(0)
    expect(error.retryable).toBe(true)
    expect((error.cause as Error).name).toBe('TimeoutError')
  })

  it('reports a failure while reading the body as status 0', async () => {
    const response = new Response('{}', { status: 200 })
    Object.defineProperty(response, 'text', {
      value: () => Promise.reject(new DOMException('The operation timed out.', 'TimeoutError')),
    })
    const client = new FhirClient({
      baseUrl: BASE_URL,
      timeoutMs: 50,
      sourceUri: SOURCE_URI,
      fetch: () => Promise.resolve(response),
    })

    const error = await requestError(client.read<Patient>('Patient', 'p1'))

    expect(error.status).toBe(0)
    expect(error.retryable).toBe(true)
    expect((error.cause as Error).name).toBe('TimeoutError')
  })
})

describe('FhirClient.searchAll', () => {
  function searchSet(resources: Patient[], next?: string): Bundle<Patient> {
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: resources.map((resource) => ({ resource, search: { mode: 'match' } })),
      ...(next === undefined ? {} : { link: [{ relation: 'next', url: next }] }),
    }
  }

  it('follows next links across pages', async () => {
    const requested: string[] = []
    server.use(
      http.get(`${BASE_URL}/Patient`, ({ request }) => {
        requested.push(request.url)
        return HttpResponse.json(
          searchSet(
            [{ resourceType: 'Patient', id: 'a' }],
            `${BASE_URL}?_getpages=s1&_getpagesoffset=1`,
          ),
        )
      }),
      http.get(BASE_URL, ({ request }) => {
        requested.push(request.url)
        const offset = new URL(request.url).searchParams.get('_getpagesoffset')
        if (offset === '1') {
          return HttpResponse.json(
            searchSet(
              [{ resourceType: 'Patient', id: 'b' }],
              `${BASE_URL}?_getpages=s1&_getpagesoffset=2`,
            ),
          )
        }
        return HttpResponse.json(searchSet([{ resourceType: 'Patient', id: 'c' }]))
      }),
    )

    const patients = await createClient().searchAll<Patient>('Patient', {
      _count: '1',
      name: 'Ordóñez',
    })

    expect(patients.map((patient) => patient.id)).toEqual(['a', 'b', 'c'])
    expect(requested).toEqual([
      `${BASE_URL}/Patient?_count=1&name=Ord%C3%B3%C3%B1ez`,
      `${BASE_URL}?_getpages=s1&_getpagesoffset=1`,
      `${BASE_URL}?_getpages=s1&_getpagesoffset=2`,
    ])
  })

  it('skips entries of other resource types', async () => {
    server.use(
      http.get(`${BASE_URL}/Patient`, () =>
        HttpResponse.json({
          resourceType: 'Bundle',
          type: 'searchset',
          entry: [
            { resource: { resourceType: 'Patient', id: 'a' } },
            {
              resource: { resourceType: 'OperationOutcome', issue: [] },
              search: { mode: 'outcome' },
            },
          ],
        }),
      ),
    )

    const patients = await createClient().searchAll<Patient>('Patient', {})

    expect(patients.map((patient) => patient.id)).toEqual(['a'])
  })

  it('returns nothing for an empty search set', async () => {
    server.use(
      http.get(`${BASE_URL}/Patient`, () =>
        HttpResponse.json({ resourceType: 'Bundle', type: 'searchset', total: 0 }),
      ),
    )

    const patients = await createClient().searchAll<Patient>('Patient', {})

    expect(patients).toEqual([])
  })
})

describe('FhirClient.delete', () => {
  it('names the version in the URL when one is given', async () => {
    const captured = capturePatientRequests(() => new HttpResponse(null, { status: 200 }))
    server.use(
      http.delete(`${BASE_URL}/Patient/:id/_history/:version`, ({ request }) => {
        captured.push({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body: undefined,
        })
        return new HttpResponse(null, { status: 200 })
      }),
    )

    await createClient().delete('Patient', 'p1', { ifMatchVersion: 3 })

    expect(captured.map((request) => request.url)).toEqual([`${BASE_URL}/Patient/p1/_history/3`])
  })

  it('deletes the current version without one', async () => {
    const captured = capturePatientRequests(() => new HttpResponse(null, { status: 200 }))

    await createClient().delete('Patient', 'p1')

    expect(captured.map((request) => `${request.method} ${request.url}`)).toEqual([
      `DELETE ${BASE_URL}/Patient/p1`,
    ])
  })

  it('reports a delete of a version no longer current as a version conflict', async () => {
    server.use(
      http.delete(`${BASE_URL}/Patient/:id/_history/:version`, () =>
        HttpResponse.json(CONFLICT_OUTCOME, { status: 409 }),
      ),
    )

    const error = await requestError(createClient().delete('Patient', 'p1', { ifMatchVersion: 2 }))

    expect(error.isVersionConflict).toBe(true)
  })
})

describe('FhirClient.transaction', () => {
  it('stamps meta.source on every entry', async () => {
    let posted: Bundle | undefined
    server.use(
      http.post(BASE_URL, async ({ request }) => {
        posted = (await request.json()) as Bundle
        return HttpResponse.json({ resourceType: 'Bundle', type: 'transaction-response' })
      }),
    )
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: PATIENT, request: { method: 'PUT', url: 'Patient/p1' } },
        { request: { method: 'DELETE', url: 'Condition/c1' } },
      ],
    }

    await createClient().transaction(bundle)

    expect(posted?.entry?.[0]?.resource?.meta?.source).toBe(SOURCE_URI)
    expect(posted?.entry?.[1]).toEqual({ request: { method: 'DELETE', url: 'Condition/c1' } })
  })
})

describe('versionIdOf', () => {
  it('reads an integer version id', () => {
    expect(versionIdOf({ resourceType: 'Patient', meta: { versionId: '7' } })).toBe(7)
  })

  it.each<[string, Patient]>([
    ['no meta', { resourceType: 'Patient' }],
    ['no versionId', { resourceType: 'Patient', meta: {} }],
    ['version 0', { resourceType: 'Patient', meta: { versionId: '0' } }],
    ['a non-integer version', { resourceType: 'Patient', meta: { versionId: '1.5' } }],
    ['a word', { resourceType: 'Patient', meta: { versionId: 'abc' } }],
  ])('rejects a resource with %s', (_case, resource) => {
    expect(() => versionIdOf(resource)).toThrow(Error)
  })
})

describe('parseRetryAfter', () => {
  const NOW_MS = Date.parse('2026-03-01T12:00:00Z')

  it.each([
    ['120', 120],
    [' 0 ', 0],
    ['Sun, 01 Mar 2026 12:00:30 GMT', 30],
    ['Sun, 01 Mar 2026 11:59:00 GMT', 0],
  ])('reads %j as %i seconds', (header, seconds) => {
    expect(parseRetryAfter(header, NOW_MS)).toBe(seconds)
  })

  it.each([[null], [''], ['soon'], ['-5'], ['1.5']])('reads %j as no delay', (header) => {
    expect(parseRetryAfter(header, NOW_MS)).toBeNull()
  })
})

describe('FhirRequestError message', () => {
  it('leaves out search values', () => {
    const error = new FhirRequestError(
      'GET',
      `${BASE_URL}/Patient?identifier=urn%3Aoid%3A1.2%7CMRN1234&_count=2`,
      503,
      [],
    )

    expect(error.message).toBe(`GET ${BASE_URL}/Patient?identifier=…&_count=… returned 503`)
    expect(error.url).toContain('MRN1234')
  })

  it('masks the values HAPI quotes', () => {
    const diagnostics =
      'HAPI-1821: [element="birthDate"] Invalid attribute value "1937-13-45": Invalid date/time format: "1937-13-45"'
    const error = new FhirRequestError('PUT', `${BASE_URL}/Patient/p1`, 400, [
      { severity: 'error', code: 'processing', diagnostics },
      { severity: 'error', code: 'processing', diagnostics: "Unknown code 'zzprobe'" },
    ])

    expect(error.message).toBe(
      `PUT ${BASE_URL}/Patient/p1 returned 400: HAPI-1821: [element="birthDate"] Invalid attribute value "…": Invalid date/time format: "…"; Unknown code "…"`,
    )
    expect(error.issues[0]?.diagnostics).toBe(diagnostics)
  })

  it('keeps HAPI diagnostics without quotes', () => {
    const error = new FhirRequestError('PUT', `${BASE_URL}/Patient/p1`, 409, CONFLICT_OUTCOME.issue)

    expect(error.message).toContain('HAPI-0989: Trying to update Patient/p1/_history/3')
  })
})
