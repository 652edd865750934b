import { Writable } from 'node:stream'
import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Conflict } from '../src/conflicts/conflict.schemas.ts'
import type { FetchFunction } from '../src/fhir/fhir-client.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { createLogger } from '../src/platform/logger.ts'
import { RECEIVER_PATH } from '../src/sync/notification-receiver.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import {
  HOSPITAL_MRN_SYSTEM,
  MULTIPLE_SCLEROSIS,
  conditionInput,
  createSynced,
  fhirIdOf,
  hospitalEdit,
  patchEntity,
  waitForSettled,
} from './merge-fixtures.ts'

const NATIONAL_ID_SYSTEM = 'urn:oid:2.16.840.1.113883.2.4.6.3'

/** Makes each value of this run unique, so a match in the logs cannot come from another run. */
const TAG = crypto.randomUUID().replaceAll('-', '').slice(0, 8)

function digits(count: number): string {
  return Array.from({ length: count }, () => Math.floor(Math.random() * 10)).join('')
}

/** The values of the run that no log line may contain, by kind. */
const PHI = {
  names: [
    `Vrexholm${TAG}`,
    `Ottoline${TAG}`,
    `Haldorsdottir${TAG}`,
    `Sigrun${TAG}`,
    `Quenneville${TAG}`,
    `Ambersley${TAG}`,
  ],
  birthDates: ['1937-11-23', '1938-02-14', '1936-08-09', '1941-06-30', '1944-03-17'],
  // NOTE: the registry identifier is missing here, because its value is the patient's id, which
  // the logs carry as entityId by design.
  identifiers: [`MRN${digits(9)}`, `NID${digits(9)}`, `MRN${digits(9)}`, `MRN${digits(9)}`],
  phones: [`+1-202-555-${digits(4)}`, `+1-303-555-${digits(4)}`, `+1-404-555-${digits(4)}`],
  emails: [`ottoline.${TAG}@mail.example.org`],
  addresses: [
    `${digits(3)} Wisteria Crescent`,
    `Puddlebrook${TAG}`,
    `Marrowgate${TAG}`,
    `ZX${digits(1)} ${digits(1)}QY`,
  ],
}

const [
  REGISTRY_FAMILY,
  REGISTRY_GIVEN,
  HOSPITAL_FAMILY,
  HOSPITAL_GIVEN,
  REJECTED_FAMILY,
  HAPI_REJECTED_FAMILY,
] = PHI.names as [string, string, string, string, string, string]
const [REGISTRY_BIRTH, FHIR_BIRTH, CHANGED_BIRTH, HOSPITAL_BIRTH, HAPI_REJECTED_BIRTH] =
  PHI.birthDates as [string, string, string, string, string]
const [REGISTRY_MRN, REGISTRY_NATIONAL_ID, HOSPITAL_MRN, REJECTED_MRN] = PHI.identifiers as [
  string,
  string,
  string,
  string,
]
const [FIRST_PHONE, SECOND_PHONE, HOSPITAL_PHONE] = PHI.phones as [string, string, string]
const [STREET, FIRST_CITY, SECOND_CITY, POSTAL_CODE] = PHI.addresses as [
  string,
  string,
  string,
  string,
]

/** A bearer token that the registry never issued. */
const BAD_TOKEN = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ${TAG}In0.c2lnbmF0dXJl${TAG}`
const BAD_SUBSCRIPTION_SECRET = `not-the-secret-${TAG}-${digits(12)}`
const PASSWORD = `Lantern-${TAG}-${digits(8)}`
const WRONG_PASSWORD = `Harbour-${TAG}-${digits(8)}`

/** A JSON Web Token in compact form. Its header starts with `eyJ`, the base64url of `{"`. */
const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/

/** Tokens that the run used, added as it signs in. */
const tokens: string[] = []

/** Events that the merge, the push and the subject resolver log while a job runs. */
const EXPECTED_WORKER_EVENTS = [
  'Row pushed to FHIR',
  'FHIR change merged',
  'Merge failed; retrying later',
  'Push failed for good; row marked failed',
  'Patient enrolled from FHIR',
  'Field changed on both sides',
  'Condition subject resolved',
]

/** Events that only a job logs, some from loggers that carry no job fields of their own. */
const WORKER_EVENTS = [
  ...EXPECTED_WORKER_EVENTS,
  'Rows pushed to FHIR',
  'Rows pushed in one transaction Bundle',
  'Transaction Bundle of pushes failed; pushing its rows one by one',
  'Push failed; retrying later',
  'FHIR change parked',
  'Registry-owned field changed in FHIR; the push puts it back',
  'FHIR edited a resource the registry deleted',
  'FHIR version moved on during push; merging first',
  'Merged a newer FHIR version before pushing',
  'Several Patients carry the identifier of a Condition subject',
]

/** One parsed log line and its raw text. */
interface LogLine {
  raw: string
  fields: Record<string, unknown>
}

const lines: LogLine[] = []
let pending = ''

/** Collects the JSON lines the registry's logger writes, as production writes them to stdout. */
const sink = new Writable({
  write(chunk: Buffer | string, _encoding, callback) {
    pending += String(chunk)
    const complete = pending.split('\n')
    pending = complete.pop() ?? ''
    for (const raw of complete) {
      if (raw.trim() !== '') lines.push({ raw, fields: JSON.parse(raw) as LogLine['fields'] })
    }
    callback()
  },
})

/**
 * Fails the first search for a Patient by identifier with a 503, as a busy HAPI does, so the
 * merge's failure and retry lines are part of the run. Rejects every write that carries
 * `HAPI_REJECTED_BIRTH` with the 400 that HAPI 8.8 returns for a date it cannot parse, which
 * quotes the date.
 */
let searchesFailed = 0
const flakyFetch: FetchFunction = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input)
  if (typeof init?.body === 'string' && init.body.includes(HAPI_REJECTED_BIRTH)) {
    const diagnostics = `HAPI-0450: Failed to parse request body as JSON resource. Error was: HAPI-1821: [element="birthDate"] Invalid attribute value "${HAPI_REJECTED_BIRTH}": Invalid date/time format: "${HAPI_REJECTED_BIRTH}"`
    return new Response(
      JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'processing', diagnostics }],
      }),
      { status: 400, headers: { 'Content-Type': 'application/fhir+json' } },
    )
  }
  if (searchesFailed === 0 && url.includes('/Patient?') && url.includes('identifier=')) {
    searchesFailed += 1
    return new Response(
      JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'transient', diagnostics: 'Service busy' }],
      }),
      { status: 503, headers: { 'Content-Type': 'application/fhir+json' } },
    )
  }
  return fetch(input, init)
}

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry(
    'log_privacy',
    { LOG_LEVEL: 'debug' },
    { logger: createLogger('debug', { test: 'log_privacy' }, sink), fetch: flakyFetch },
  )
  await driveRun()
})

afterAll(async () => {
  await t.stop()
})

async function json<T>(response: Response, status: number): Promise<T> {
  const body = (await response.json()) as T
  expect(response.status, JSON.stringify(body)).toBe(status)
  return body
}

async function getPatient(id: string): Promise<Patient> {
  return json<Patient>(await t.api('GET', `/patients/${id}`), 200)
}

/**
 * Runs what a busy day brings: API writes that reach HAPI, hospital edits that merge, a
 * conflict that a steward resolves, a Patient and Condition that the hospital adds, and requests
 * that the registry rejects.
 */
async function driveRun(): Promise<void> {
  const patient = await registryWrites()
  await hospitalEditsAndConflict(patient)
  await hospitalEnrolment()
  await pushRejectedByHapi()
  await signIn()
  await rejectedRequests(patient)
}

async function registryWrites(): Promise<Patient> {
  const created = await createSynced(t, 'patient', {
    names: [{ use: 'official', family: REGISTRY_FAMILY, given: [REGISTRY_GIVEN] }],
    birthDate: REGISTRY_BIRTH,
    gender: 'female',
    identifiers: [
      { use: 'usual', system: HOSPITAL_MRN_SYSTEM, value: REGISTRY_MRN },
      { use: 'secondary', system: NATIONAL_ID_SYSTEM, value: REGISTRY_NATIONAL_ID },
    ],
    telecom: [
      { system: 'phone', value: FIRST_PHONE },
      { system: 'email', value: PHI.emails[0] ?? '' },
    ],
    addresses: [{ line: [STREET], city: FIRST_CITY, postalCode: POSTAL_CODE }],
  })
  const patched = await patchEntity(t, 'patient', created, {
    telecom: [
      { system: 'phone', value: FIRST_PHONE },
      { system: 'phone', value: SECOND_PHONE },
      { system: 'email', value: PHI.emails[0] ?? '' },
    ],
  })

  const condition = await createSynced(t, 'condition', conditionInput(patched.id))
  await patchEntity(t, 'condition', condition, { clinicalStatus: 'relapse' })

  // Searches put names and identifiers in the query string.
  await json(await t.api('GET', `/patients?name=${REGISTRY_FAMILY}`), 200)
  await json(await t.api('GET', `/patients?identifier=${REGISTRY_MRN}`), 200)

  await waitForSettled(t, 'condition', condition.id)
  await waitForSettled(t, 'patient', patched.id)
  return getPatient(patched.id)
}

async function hospitalEditsAndConflict(patient: Patient): Promise<void> {
  // The address is last-writer-wins, so the hospital's city merges into the registry.
  await hospitalEdit(t, 'patient', fhirIdOf(patient), (resource) => {
    resource.address = [{ line: [STREET], city: SECOND_CITY, postalCode: POSTAL_CODE }]
  })
  const merged = await waitFor('the hospital city merged', async () => {
    const current = await getPatient(patient.id)
    return current.addresses[0]?.city === SECOND_CITY ? current : undefined
  })
  await waitForSettled(t, 'patient', patient.id)

  // birthDate is `manual`, so a change on both sides opens a conflict for a steward.
  await hospitalEdit(t, 'patient', fhirIdOf(merged), (resource) => {
    resource.birthDate = FHIR_BIRTH
  })
  await patchEntity(t, 'patient', merged, { birthDate: CHANGED_BIRTH })
  const conflict = await waitFor('a birthDate conflict', async () => {
    const page = await json<{ items: Conflict[] }>(
      await t.api('GET', `/conflicts?entityId=${patient.id}&field=birthDate`),
      200,
    )
    return page.items[0]
  })
  await json(await t.api('POST', `/conflicts/${conflict.id}/resolve`, { choice: 'fhir' }), 200)
  await waitForSettled(t, 'patient', patient.id)
}

/**
 * Has the hospital add a Patient and then a neurological Condition that names its subject only
 * by the hospital's identifier, so the merge searches HAPI by identifier and enrols both. The
 * first search fails with a 503 and the retry succeeds.
 */
async function hospitalEnrolment(): Promise<void> {
  await t.hospital.post<FhirPatient>('Patient', {
    resourceType: 'Patient',
    identifier: [{ use: 'usual', system: HOSPITAL_MRN_SYSTEM, value: HOSPITAL_MRN }],
    name: [{ use: 'official', family: HOSPITAL_FAMILY, given: [HOSPITAL_GIVEN] }],
    birthDate: HOSPITAL_BIRTH,
    gender: 'male',
    telecom: [{ system: 'phone', value: HOSPITAL_PHONE }],
  })
  const condition: FhirCondition = {
    resourceType: 'Condition',
    subject: { identifier: { system: HOSPITAL_MRN_SYSTEM, value: HOSPITAL_MRN } },
    code: { coding: [MULTIPLE_SCLEROSIS] },
    recordedDate: '2019-06-01',
  }
  await t.hospital.post<FhirCondition>('Condition', condition)

  const enrolled = await waitFor(
    'the hospital Patient enrolled',
    async () => {
      const page = await json<{ items: Patient[] }>(
        await t.api('GET', `/patients?identifier=${HOSPITAL_MRN_SYSTEM}|${HOSPITAL_MRN}`),
        200,
      )
      return page.items[0]
    },
    90_000,
  )
  const conditions = await json<{ items: Condition[] }>(
    await t.api('GET', `/conditions?patientId=${enrolled.id}`),
    200,
  )
  expect(conditions.items).toHaveLength(1)
  expect(searchesFailed).toBe(1)
  await waitForSettled(t, 'patient', enrolled.id)
}

/** Creates a patient whose push HAPI rejects for good, quoting its birth date. */
async function pushRejectedByHapi(): Promise<void> {
  const created = await json<Patient>(
    await t.api('POST', '/patients', {
      names: [{ family: HAPI_REJECTED_FAMILY }],
      birthDate: HAPI_REJECTED_BIRTH,
    }),
    201,
  )

  const failed = await waitFor('the push marked failed', async () => {
    const current = await getPatient(created.id)
    return current.sync.state === 'failed' ? current : undefined
  })

  expect(failed.sync.error).toContain('400')
}

/** Creates a user, signs in with its password, uses the token and fails one sign-in. */
async function signIn(): Promise<void> {
  const username = `clinician.${TAG}`
  await json(
    await t.api('POST', '/users', { username, password: PASSWORD, roles: ['clinician'] }),
    201,
  )
  const issued = await json<{ access_token: string }>(
    await t.api('POST', '/auth/token', { username, password: PASSWORD }, { Authorization: '' }),
    200,
  )
  tokens.push(issued.access_token)
  const response = await t.api('GET', '/patients?limit=1', undefined, {
    Authorization: `Bearer ${issued.access_token}`,
  })
  expect(response.status).toBe(200)

  // Users sometimes type their password into the username field.
  const wrong = await t.api(
    'POST',
    '/auth/token',
    { username: WRONG_PASSWORD, password: WRONG_PASSWORD },
    { Authorization: '' },
  )
  expect(wrong.status).toBe(401)
}

async function rejectedRequests(patient: Patient): Promise<void> {
  const invalidDay = await t.api('POST', '/patients', {
    names: [{ family: REJECTED_FAMILY }],
    birthDate: '1937-02-30',
    identifiers: [{ system: HOSPITAL_MRN_SYSTEM, value: REJECTED_MRN }],
  })
  expect(invalidDay.status).toBe(400)

  const clinician = await t.authorizationFor(['clinician'])
  tokens.push(clinician.replace(/^Bearer /, ''))
  const malformed = await fetch(`${t.url}/patients`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: clinician },
    body: `{"names":[{"family":"${REJECTED_FAMILY}"}],"birthDate":"${REGISTRY_BIRTH}"`,
  })
  expect(malformed.status).toBe(400)

  const reserved = await t.api(
    'PATCH',
    `/patients/${patient.id}`,
    { identifiers: [{ system: t.identifierSystem, value: REJECTED_MRN }] },
    { 'If-Match': `"${patient.version}"` },
  )
  expect(reserved.status).toBe(400)

  const unknownField = await t.api('POST', '/patients', {
    names: [{ family: REJECTED_FAMILY }],
    telecom: [{ system: 'carrier-pigeon', value: FIRST_PHONE }],
  })
  expect(unknownField.status).toBe(400)

  expect((await t.api('GET', `/patients/${REGISTRY_FAMILY}`)).status).toBe(400)
  expect((await t.api('GET', `/people/${REGISTRY_FAMILY}?mrn=${REGISTRY_MRN}`)).status).toBe(404)

  const badToken = await t.api('GET', `/patients/${patient.id}`, undefined, {
    Authorization: `Bearer ${BAD_TOKEN}`,
  })
  expect(badToken.status).toBe(401)

  const badSecret = await t.api(
    'PUT',
    `${RECEIVER_PATH}/Patient/${fhirIdOf(patient)}`,
    { resourceType: 'Patient', id: fhirIdOf(patient), name: [{ family: REJECTED_FAMILY }] },
    { Authorization: `Bearer ${BAD_SUBSCRIPTION_SECRET}` },
  )
  expect(badSecret.status).toBe(401)
}

/** Lists the spellings under which a value could reach a line: as is, in a URL, in any case. */
function spellingsOf(value: string): string[] {
  return [
    ...new Set([
      value.toLowerCase(),
      encodeURIComponent(value).toLowerCase(),
      value.replaceAll(' ', '+').toLowerCase(),
      JSON.stringify(value).slice(1, -1).toLowerCase(),
    ]),
  ]
}

/** Lists each line that contains one of `values`, with the value it contains. */
function linesContaining(values: readonly string[]): string[] {
  const found: string[] = []
  for (const line of lines) {
    const text = line.raw.toLowerCase()
    for (const value of values) {
      if (spellingsOf(value).some((spelling) => text.includes(spelling))) {
        found.push(`${value} in ${line.raw}`)
      }
    }
  }
  return found
}

describe('log privacy', () => {
  it('captured the run', () => {
    expect(lines.length).toBeGreaterThan(50)
    expect(lines.some((line) => line.fields.level === 'debug')).toBe(true)
    expect(lines.some((line) => line.fields.message === 'FHIR change merged')).toBe(true)
    expect(lines.some((line) => line.fields.message === 'Merge failed; retrying later')).toBe(true)
    expect(
      lines.some((line) => line.fields.message === 'Push failed for good; row marked failed'),
    ).toBe(true)
  })

  it('logs no names', () => {
    expect(linesContaining(PHI.names)).toEqual([])
  })

  it('logs no birth dates', () => {
    expect(linesContaining(PHI.birthDates)).toEqual([])
  })

  it('logs no identifiers', () => {
    expect(linesContaining(PHI.identifiers)).toEqual([])
  })

  it('logs no phone numbers, emails or addresses', () => {
    expect(linesContaining([...PHI.phones, ...PHI.emails, ...PHI.addresses])).toEqual([])
  })

  it('logs no tokens, passwords or secrets', () => {
    const secrets = [
      ...tokens,
      BAD_TOKEN,
      BAD_SUBSCRIPTION_SECRET,
      PASSWORD,
      WRONG_PASSWORD,
      t.registry.config.SUBSCRIPTION_SECRET,
    ]

    expect(tokens).toHaveLength(2)
    expect(linesContaining(secrets)).toEqual([])
    expect(lines.filter((line) => JWT.test(line.raw)).map((line) => line.raw)).toEqual([])
  })

  it('ends each request with its route, status and duration', () => {
    const requests = lines.filter((line) => line.fields.message === 'Request completed')

    expect(requests.length).toBeGreaterThan(20)
    for (const { raw, fields } of requests) {
      expect(typeof fields.method, raw).toBe('string')
      expect(typeof fields.route, raw).toBe('string')
      expect(typeof fields.status, raw).toBe('number')
      expect(typeof fields.durationMs, raw).toBe('number')
      expect(typeof fields.requestId, raw).toBe('string')
      // The route's pattern, never the path with its ids or values.
      expect(String(fields.route), raw).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/)
    }
  })

  it('gives each worker line its job id', () => {
    const workerLines = lines.filter(
      (line) => 'queue' in line.fields || WORKER_EVENTS.includes(String(line.fields.message)),
    )
    const events = new Set(workerLines.map((line) => line.fields.message))

    for (const event of EXPECTED_WORKER_EVENTS) expect(events).toContain(event)
    for (const { raw, fields } of workerLines) {
      expect(typeof fields.jobId, raw).toBe('string')
      expect(typeof fields.queue, raw).toBe('string')
    }
  })
})
