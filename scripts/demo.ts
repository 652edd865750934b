/**
 * Shows both sync directions on real data against a running stack (`npm start`):
 * loads FHIR data into HAPI as a hospital would, waits until the registry has enrolled every
 * loaded patient with a neurological condition (and no one else), then edits some of them through
 * the registry API and waits until HAPI shows the edits. Prints counts and how long each
 * direction took.
 *
 *   npm run demo -- [--registry-url URL] [--fhir-base-url URL] [--edits N] PATH...
 *
 * It signs in as REGISTRY_USERNAME with REGISTRY_PASSWORD, a user holding the clinician role.
 */
import { parseArgs } from 'node:util'
import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { FhirClient } from '../src/fhir/fhir-client.ts'
import { NeurologyValueSet } from '../src/fhir/neurology-value-set.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { HOSPITAL_SOURCE_URI, loadFhirData } from './load-fhir.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'registry-url': {
      type: 'string',
      default: process.env.REGISTRY_URL ?? `http://127.0.0.1:${process.env.PORT ?? '3000'}`,
    },
    'fhir-base-url': {
      type: 'string',
      default:
        process.env.FHIR_BASE_URL ?? `http://127.0.0.1:${process.env.HAPI_PORT ?? '8080'}/fhir`,
    },
    edits: { type: 'string', default: '3' },
    'timeout-seconds': { type: 'string', default: '180' },
    help: { type: 'boolean', default: false },
  },
})
if (values.help || positionals.length === 0) {
  process.stdout.write(
    'Usage: npm run demo -- [--registry-url URL] [--fhir-base-url URL] [--edits N] PATH...\n' +
      'Defaults: the registry on PORT (3000) and HAPI on HAPI_PORT (8080) of 127.0.0.1.\n' +
      'Signs in as REGISTRY_USERNAME with REGISTRY_PASSWORD, a user with the clinician role.\n',
  )
  process.exit(values.help ? 0 : 2)
}
const registryUrl = values['registry-url']
const username = process.env.REGISTRY_USERNAME
const password = process.env.REGISTRY_PASSWORD
if (!username || !password) {
  process.stderr.write(
    'Set REGISTRY_USERNAME and REGISTRY_PASSWORD to a user with the clinician role (npm run user:create makes one)\n',
  )
  process.exit(2)
}
const timeoutMs = Number(values['timeout-seconds']) * 1000
const fhir = new FhirClient({
  baseUrl: values['fhir-base-url'],
  timeoutMs: 30_000,
  sourceUri: HOSPITAL_SOURCE_URI,
})
const valueSet = NeurologyValueSet.fromFile()

/** Signs in and returns the Authorization header value for the registry API. */
async function signIn(): Promise<string> {
  const response = await fetch(`${registryUrl}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  })
  if (!response.ok) {
    throw new Error(
      `POST /auth/token returned ${response.status}; check REGISTRY_USERNAME and REGISTRY_PASSWORD and that the registry is running at ${registryUrl}`,
    )
  }
  return `Bearer ${((await response.json()) as { access_token: string }).access_token}`
}
const authorization = await signIn()

function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

async function registryPatientOf(fhirId: string): Promise<Patient | undefined> {
  const response = await fetch(`${registryUrl}/patients?fhirId=${encodeURIComponent(fhirId)}`, {
    headers: { Authorization: authorization },
  })
  if (!response.ok)
    throw new Error(
      `GET /patients returned ${response.status}; check that the registry is running at ${registryUrl}`,
    )
  return ((await response.json()) as { items: Patient[] }).items[0]
}

async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline)
      throw new Error(`Gave up after ${timeoutMs / 1000} s waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

// 1. Load, as a hospital would.
const load = await loadFhirData(values['fhir-base-url'], positionals, ['Patient', 'Condition'])
const loadedAt = performance.now()
say(
  `Loaded ${load.written.Patient ?? 0} patients and ${load.written.Condition ?? 0} conditions into HAPI in ${(load.durationMs / 1000).toFixed(1)} s`,
)

// 2. Which of them the registry must enrol: those with a neurological condition.
const expected: string[] = []
const others: string[] = []
for (const reference of load.patientIds) {
  const id = reference.replace('Patient/', '')
  const conditions = await fhir.searchAll<FhirCondition>('Condition', {
    subject: `Patient/${id}`,
    _count: '200',
  })
  if (conditions.some((condition) => valueSet.containsAny(condition.code?.coding)))
    expected.push(id)
  else others.push(id)
}
say(`Patients with a neurological condition, to be enrolled: ${expected.length}`)

// 3. FHIR to registry: wait for every enrolment.
const enrolled: Patient[] = []
for (const id of expected) {
  enrolled.push(await until(`Patient/${id} in the registry`, () => registryPatientOf(id)))
}
const inboundMs = performance.now() - loadedAt
const strays = (await Promise.all(others.map(registryPatientOf))).filter(Boolean).length
say(
  `FHIR -> registry: ${enrolled.length} patients enrolled, the last seen ${(inboundMs / 1000).toFixed(1)} s after the load ended ` +
    `(${((inboundMs + load.durationMs) / 1000).toFixed(1)} s after it began); ${strays} of the ${others.length} others enrolled`,
)

// 4. Registry to FHIR: edit some of them through the API and wait for HAPI to show it.
const edits = enrolled.slice(0, Number(values.edits))
const editStarted = performance.now()
for (const [index, patient] of edits.entries()) {
  const email = `demo-${index}-${Date.now()}@registry.example.org`
  let current = patient
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${registryUrl}/patients/${current.id}`, {
      method: 'PATCH',
      headers: {
        'Content-Type': 'application/json',
        'If-Match': `"${current.version}"`,
        Authorization: authorization,
      },
      body: JSON.stringify({
        telecom: [...current.telecom, { system: 'email', value: email, use: 'home' }],
      }),
    })
    if (response.ok) break
    // The registry identifier push may bump the version between the read and the edit.
    if (response.status !== 412 || attempt > 3)
      throw new Error(`PATCH /patients/${current.id} returned ${response.status}`)
    const reread = await fetch(`${registryUrl}/patients/${current.id}`, {
      headers: { Authorization: authorization },
    })
    current = (await reread.json()) as Patient
  }
  await until(`the edit of Patient/${patient.sync.fhirId ?? ''} in HAPI`, async () => {
    const stored = await fhir.read<FhirPatient>('Patient', patient.sync.fhirId ?? '')
    return stored?.telecom?.some((telecom) => telecom.value === email) ? true : undefined
  })
}
const outboundMs = performance.now() - editStarted
say(
  `Registry -> FHIR: ${edits.length} edits visible in HAPI after ${(outboundMs / 1000).toFixed(1)} s in all (${edits.length > 0 ? (outboundMs / edits.length / 1000).toFixed(2) : '0'} s each)`,
)
