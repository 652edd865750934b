import type { Bundle, Condition, OperationOutcome, Patient, Reference } from '@medplum/fhirtypes'
import { http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FhirClient, FhirRequestError } from '../fhir/fhir-client.ts'
import type { LogFields, Logger } from '../platform/logger.ts'
import { SubjectResolver, type SubjectResolution } from './subject-resolver.ts'

const BASE_URL = 'http://hapi.test/fhir'
const MRN_SYSTEM = 'https://hospital.example.org/sid/mrn'
const MRN = 'MRN-0042'

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

interface LogEntry {
  level: string
  event: string
  fields: LogFields
}

/** Logger that keeps every entry, with the fields of its parents merged in. */
function recordingLogger(entries: LogEntry[], bound: LogFields = {}): Logger {
  const record =
    (level: string) =>
    (event: string, fields: LogFields = {}) => {
      entries.push({ level, event, fields: { ...bound, ...fields } })
    }
  return {
    error: record('error'),
    warn: record('warn'),
    info: record('info'),
    debug: record('debug'),
    child: (fields) => recordingLogger(entries, { ...bound, ...fields }),
  }
}

function createResolver(logEntries: LogEntry[] = []): SubjectResolver {
  const fhir = new FhirClient({
    baseUrl: `${BASE_URL}/`,
    timeoutMs: 2_000,
    sourceUri: 'https://brain-registry.example.org/fhir/source/registry',
  })
  return new SubjectResolver({ fhir, logger: recordingLogger(logEntries) })
}

/** Builds a Condition about `subject`, whose `type` may also be a canonical URL, as FHIR allows. */
function conditionAbout(
  subject: (Omit<Reference, 'type'> & { type?: string }) | undefined,
): Condition {
  return { resourceType: 'Condition', id: 'c1', subject } as Condition
}

function patient(id: string): Patient {
  return {
    resourceType: 'Patient',
    id,
    meta: { versionId: '1' },
    identifier: [{ system: MRN_SYSTEM, value: MRN }],
  }
}

function searchSet(patients: Patient[]): Bundle<Patient> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: patients.map((resource) => ({ resource, search: { mode: 'match' } })),
  }
}

/** Serves Patient reads from `stored` and records the id of each read. */
function servePatientReads(stored: Record<string, Patient>): string[] {
  const reads: string[] = []
  server.use(
    http.get(`${BASE_URL}/Patient/:id`, ({ params }) => {
      const id = String(params.id)
      reads.push(id)
      const found = stored[id]
      return found
        ? HttpResponse.json(found)
        : HttpResponse.json(notFoundOutcome(), { status: 404 })
    }),
  )
  return reads
}

/** Serves Patient searches with `patients` and records the query of each search. */
function servePatientSearch(patients: Patient[]): URLSearchParams[] {
  const queries: URLSearchParams[] = []
  server.use(
    http.get(`${BASE_URL}/Patient`, ({ request }) => {
      queries.push(new URL(request.url).searchParams)
      return HttpResponse.json(searchSet(patients))
    }),
  )
  return queries
}

function notFoundOutcome(): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'not-found', diagnostics: 'HAPI-2001: not known' }],
  }
}

async function requestError(promise: Promise<unknown>): Promise<FhirRequestError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof FhirRequestError) return error
    throw error
  }
  throw new Error('Resolution succeeded, but a FhirRequestError was expected')
}

/** Returns the id of the resolved Patient, or undefined for any other outcome. */
function patientIdOf(resolution: SubjectResolution): string | undefined {
  return resolution.kind === 'patient' ? resolution.patient.id : undefined
}

describe('SubjectResolver literal references', () => {
  it.each([
    ['a relative reference', 'Patient/p1'],
    ['a versioned reference', 'Patient/p1/_history/2'],
    ['an absolute reference on this server', `${BASE_URL}/Patient/p1`],
    ['an absolute versioned reference on this server', `${BASE_URL}/Patient/p1/_history/7`],
    ['an absolute reference with an upper-case host', 'http://HAPI.test/fhir/Patient/p1'],
  ])('resolves %s', async (_case, reference) => {
    const reads = servePatientReads({ p1: patient('p1') })

    const resolution = await createResolver().resolve(conditionAbout({ reference }))

    expect(resolution.kind).toBe('patient')
    expect(patientIdOf(resolution)).toBe('p1')
    expect(reads).toEqual(['p1'])
  })

  it.each([404, 410])('reports a %i read as patient-not-found', async (status) => {
    server.use(
      http.get(`${BASE_URL}/Patient/:id`, () => HttpResponse.json(notFoundOutcome(), { status })),
    )

    const resolution = await createResolver().resolve(conditionAbout({ reference: 'Patient/p1' }))

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'patient-not-found' })
  })

  it('ignores the identifier of a missing reference', async () => {
    servePatientReads({})
    const queries = servePatientSearch([patient('p2')])

    const resolution = await createResolver().resolve(
      conditionAbout({ reference: 'Patient/p1', identifier: { system: MRN_SYSTEM, value: MRN } }),
    )

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'patient-not-found' })
    expect(queries).toHaveLength(0)
  })

  it.each([500, 503, 401])('propagates a %i read', async (status) => {
    server.use(http.get(`${BASE_URL}/Patient/:id`, () => new HttpResponse(null, { status })))

    const error = await requestError(
      createResolver().resolve(conditionAbout({ reference: 'Patient/p1' })),
    )

    expect(error.status).toBe(status)
  })

  it.each([
    ['a Group', 'Group/g1', 'Group'],
    ['a versioned Group', 'Group/g1/_history/3', 'Group'],
    ['a Group on this server', `${BASE_URL}/Group/g1`, 'Group'],
    ['a Group on another server', 'https://ehr.hospital.example.org/fhir/Group/g1', 'Group'],
    ['a Practitioner', 'Practitioner/pr1', 'Practitioner'],
  ])('reports %s as not-a-patient', async (_case, reference, resourceType) => {
    const resolution = await createResolver().resolve(conditionAbout({ reference }))

    expect(resolution).toEqual({ kind: 'not-a-patient', resourceType })
  })

  it.each([
    ['another host', 'https://ehr.hospital.example.org/fhir/Patient/p1'],
    ['another port', 'http://hapi.test:8081/fhir/Patient/p1'],
    ['another scheme', 'https://hapi.test/fhir/Patient/p1'],
    ['another base path on this host', 'http://hapi.test/other/Patient/p1'],
  ])('reports a Patient on %s as other-server', async (_case, reference) => {
    const resolution = await createResolver().resolve(conditionAbout({ reference }))

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'other-server' })
  })

  it.each([
    ['a contained reference', '#p1'],
    ['a urn:uuid reference', 'urn:uuid:9d6f4c1e-7a4b-4e0e-9a57-1c1f0f6b8a11'],
    ['a conditional reference', `Patient?identifier=${MRN_SYSTEM}|${MRN}`],
    ['a query on this server', `${BASE_URL}/Patient/p1?_format=json`],
    ['a type alone', 'Patient'],
    ['an invalid id', 'Patient/p_1'],
    ['a lower-case type', 'patient/p1'],
    ['a nested path on this server', `${BASE_URL}/x/Patient/p1`],
    ['a malformed URL', 'http://[::1/fhir/Patient/p1'],
  ])('reports %s as unsupported-reference', async (_case, reference) => {
    const resolution = await createResolver().resolve(conditionAbout({ reference }))

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'unsupported-reference' })
  })
})

describe('SubjectResolver logical references', () => {
  it('resolves a unique identifier', async () => {
    const queries = servePatientSearch([patient('p1')])

    const resolution = await createResolver().resolve(
      conditionAbout({ identifier: { system: MRN_SYSTEM, value: MRN } }),
    )

    expect(resolution.kind).toBe('patient')
    expect(patientIdOf(resolution)).toBe('p1')
    expect(queries).toHaveLength(1)
    expect(queries[0]?.get('identifier')).toBe(`${MRN_SYSTEM}|${MRN}`)
  })

  it('escapes search separators in the identifier', async () => {
    const queries = servePatientSearch([patient('p1')])

    await createResolver().resolve(
      conditionAbout({ identifier: { system: 'urn:oid:1.2.3|x', value: 'A,B$C\\D' } }),
    )

    expect(queries[0]?.get('identifier')).toBe('urn:oid:1.2.3\\|x|A\\,B\\$C\\\\D')
  })

  it.each(['Patient', 'http://hl7.org/fhir/StructureDefinition/Patient'])(
    'resolves an identifier of type %s',
    async (type) => {
      servePatientSearch([patient('p1')])

      const resolution = await createResolver().resolve(
        conditionAbout({ type, identifier: { system: MRN_SYSTEM, value: MRN } }),
      )

      expect(resolution.kind).toBe('patient')
    },
  )

  it('falls back from another server to the identifier', async () => {
    const queries = servePatientSearch([patient('p1')])

    const resolution = await createResolver().resolve(
      conditionAbout({
        reference: 'https://ehr.hospital.example.org/fhir/Patient/77',
        identifier: { system: MRN_SYSTEM, value: MRN },
      }),
    )

    expect(resolution.kind).toBe('patient')
    expect(patientIdOf(resolution)).toBe('p1')
    expect(queries).toHaveLength(1)
  })

  it('reports an unknown identifier as not found', async () => {
    servePatientSearch([])

    const resolution = await createResolver().resolve(
      conditionAbout({ identifier: { system: MRN_SYSTEM, value: MRN } }),
    )

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'identifier-not-found' })
  })

  it('reports a shared identifier as ambiguous', async () => {
    const queries = servePatientSearch([patient('p1'), patient('p2')])

    const resolution = await createResolver().resolve(
      conditionAbout({ identifier: { system: MRN_SYSTEM, value: MRN } }),
    )

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'identifier-ambiguous' })
    expect(queries[0]?.get('_count')).toBe('2')
  })

  it('ignores included resources among the matches', async () => {
    server.use(
      http.get(`${BASE_URL}/Patient`, () =>
        HttpResponse.json({
          resourceType: 'Bundle',
          type: 'searchset',
          entry: [
            { resource: patient('p1'), search: { mode: 'match' } },
            { resource: patient('p2'), search: { mode: 'include' } },
          ],
        }),
      ),
    )

    const resolution = await createResolver().resolve(
      conditionAbout({ identifier: { system: MRN_SYSTEM, value: MRN } }),
    )

    expect(patientIdOf(resolution)).toBe('p1')
  })

  it.each([
    ['no system', { value: MRN }],
    ['no value', { system: MRN_SYSTEM }],
    ['a blank value', { system: MRN_SYSTEM, value: '  ' }],
  ])('reports an identifier with %s as incomplete-identifier', async (_case, identifier) => {
    const resolution = await createResolver().resolve(conditionAbout({ identifier }))

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'incomplete-identifier' })
  })

  it.each(['Group', 'http://hl7.org/fhir/StructureDefinition/Group'])(
    'reports an identifier of type %s as not-a-patient',
    async (type) => {
      const resolution = await createResolver().resolve(
        conditionAbout({ type, identifier: { system: MRN_SYSTEM, value: MRN } }),
      )

      expect(resolution).toEqual({ kind: 'not-a-patient', resourceType: 'Group' })
    },
  )

  it('reports another server without identifier', async () => {
    const resolution = await createResolver().resolve(
      conditionAbout({ reference: 'https://ehr.hospital.example.org/fhir/Patient/77' }),
    )

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'other-server' })
  })

  it('propagates a failed search', async () => {
    server.use(http.get(`${BASE_URL}/Patient`, () => new HttpResponse(null, { status: 503 })))

    const error = await requestError(
      createResolver().resolve(conditionAbout({ identifier: { system: MRN_SYSTEM, value: MRN } })),
    )

    expect(error.status).toBe(503)
  })

  it('logs references but no identifier', async () => {
    servePatientSearch([patient('p1'), patient('p2')])
    const entries: LogEntry[] = []

    await createResolver(entries).resolve(
      conditionAbout({ identifier: { system: MRN_SYSTEM, value: MRN } }),
    )
    const logged = JSON.stringify(entries)

    expect(entries.find((entry) => entry.level === 'warn')?.fields).toMatchObject({
      fhirId: 'Condition/c1',
      subjects: ['Patient/p1', 'Patient/p2'],
    })
    expect(logged).not.toContain(MRN)
    expect(logged).not.toContain(MRN_SYSTEM)
  })
})

describe('SubjectResolver empty subjects', () => {
  it.each([
    ['no subject', undefined],
    ['an empty subject', {}],
    ['a display only', { display: 'Someone' }],
    ['a blank reference', { reference: '  ' }],
  ])('reports %s as no-subject', async (_case, subject) => {
    const resolution = await createResolver().resolve(conditionAbout(subject))

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'no-subject' })
  })
})
