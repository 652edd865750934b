import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type {
  BundleEntry,
  Condition as FhirCondition,
  Patient as FhirPatient,
  Resource,
} from '@medplum/fhirtypes'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBatches, readLoad, type LoadResult } from '../scripts/fhir-loader.ts'
import { NeurologyValueSet } from '../src/fhir/neurology-value-set.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'

const BULK_DIR = join(
  process.env.SAMPLE_DATA_DIR ?? join(import.meta.dirname, '..', '..', 'shared', 'data'),
  'bulk-10-patients',
)
const TYPES = new Set(['Patient', 'Condition'])

/**
 * Suffix appended to every loaded id. The bulk data has fixed ids, and HAPI creates no new
 * version, so sends no notification, for a second PUT of unchanged content. With the same ids
 * as an earlier run or another load of the folder, the test would wait for enrolments that
 * never come.
 */
const RUN_SUFFIX = Date.now().toString(36)

type LoadBatch = Awaited<ReturnType<typeof readLoad>>[number]

let t: TestRegistry
/** `Type/id` of every resource this file wrote to HAPI, deleted again in afterAll. */
const written: string[] = []

beforeAll(async () => {
  t = await startTestRegistry('loader')
})

afterAll(async () => {
  try {
    await deleteWrittenResources()
  } finally {
    await t.stop()
  }
})

/**
 * Deletes what this file loaded and waits until the registry has received every delete. HAPI
 * 8.8 keeps routing changes to a deleted Subscription for a while and retries each failed
 * delivery for about a minute, so stopping first would leave hundreds of retries behind.
 */
async function deleteWrittenResources(): Promise<void> {
  if (written.length === 0) return
  // Conditions first: HAPI refuses to delete a Patient that a live Condition references.
  const ordered = [
    ...written.filter((reference) => reference.startsWith('Condition/')),
    ...written.filter((reference) => !reference.startsWith('Condition/')),
  ]
  await t.hospital.transaction({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: ordered.map((url) => ({ request: { method: 'DELETE', url } })),
  })

  await waitFor(
    'a delete notification for every loaded resource',
    async () => {
      const received = await countNotifiedResources('DELETE')
      return received >= written.length ? received : undefined
    },
    150_000,
  )
}

/** Counts this run's resources that have a notification, only of `method` or only processed ones when asked. */
async function countNotifiedResources(method?: string, processed = false): Promise<number> {
  let query = t.registry.db
    .selectFrom('fhir_notifications')
    .select(sql<string>`count(distinct (resource_type, resource_id))`.as('count'))
    .where('resource_id', 'like', `%-${RUN_SUFFIX}`)
  if (method) query = query.where('method', '=', method)
  if (processed) query = query.where('outcome', 'is not', null)
  const row = await query.executeTakeFirstOrThrow()
  return Number(row.count)
}

async function readNdjson<T extends Resource>(file: string): Promise<T[]> {
  const text = await readFile(join(BULK_DIR, file), 'utf8')
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T)
}

function suffixed(id: string): string {
  return `${id}-${RUN_SUFFIX}`
}

/** Copies a PUT entry under the run's ids, with the subject reference following its Patient. */
function withRunIds(entry: BundleEntry): BundleEntry {
  const resource = entry.resource
  if (!resource?.id) throw new Error('The loader produced an entry without a resource id')
  const copy = { ...resource, id: suffixed(resource.id) } as Resource
  if (copy.resourceType === 'Condition') {
    const subject = copy.subject.reference ?? ''
    copy.subject = { ...copy.subject, reference: suffixed(subject) }
  }
  const url = `${copy.resourceType}/${copy.id ?? ''}`
  return { ...entry, fullUrl: url, resource: copy, request: { method: 'PUT', url } }
}

function withRunIdsInBatch(batch: LoadBatch): LoadBatch {
  return { ...batch, bundle: { ...batch.bundle, entry: batch.bundle.entry?.map(withRunIds) } }
}

async function registryPatientOf(fhirId: string): Promise<Patient | undefined> {
  const response = await t.api('GET', `/patients?fhirId=${encodeURIComponent(fhirId)}`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { items: Patient[] }).items[0]
}

async function patientOutcomes(fhirId: string): Promise<(string | null)[]> {
  const result = await sql<{ outcome: string | null }>`
    select outcome from fhir_notifications
    where resource_type = 'Patient' and resource_id = ${fhirId}
    order by id`.execute(t.registry.db)
  return result.rows.map((row) => row.outcome)
}

function entriesOf(batches: readonly LoadBatch[]): BundleEntry[] {
  return batches.flatMap((batch) => batch.bundle.entry ?? [])
}

describe('bulk NDJSON load', () => {
  let patients: FhirPatient[]
  let conditions: FhirCondition[]
  let batches: LoadBatch[]
  let result: LoadResult

  beforeAll(async () => {
    patients = await readNdjson<FhirPatient>('Patient.ndjson')
    conditions = await readNdjson<FhirCondition>('Condition.ndjson')
    batches = (await readLoad([BULK_DIR], TYPES)).map(withRunIdsInBatch)
    for (const entry of entriesOf(batches)) written.push(entry.request?.url ?? '')
    result = await loadBatches(t.hospital, batches)
  })

  it('reads every resource as a PUT', () => {
    const entries = entriesOf(batches)

    expect(entries).toHaveLength(patients.length + conditions.length)
    expect(entries.every((entry) => entry.request?.method === 'PUT')).toBe(true)
    expect(batches.every((batch) => batch.bundle.type === 'transaction')).toBe(true)
    expect(entries.slice(0, patients.length).map((entry) => entry.resource?.resourceType)).toEqual(
      patients.map(() => 'Patient'),
    )
  })

  it('drops the encounter references', () => {
    const loadedConditions = entriesOf(batches)
      .map((entry) => entry.resource)
      .filter((resource) => resource?.resourceType === 'Condition')

    expect(conditions.filter((condition) => condition.encounter).length).toBeGreaterThan(0)
    expect(loadedConditions).toHaveLength(conditions.length)
    expect(loadedConditions.filter((condition) => 'encounter' in condition)).toEqual([])
  })

  it('counts every resource written', () => {
    expect(patients).toHaveLength(13)
    expect(conditions).toHaveLength(555)
    expect(result.written).toEqual({ Patient: 13, Condition: 555 })
    expect(result.transactions).toBe(batches.length)
    expect(result.conditions).toHaveLength(555)
    expect([...result.patientIds].sort()).toEqual(
      patients.map((patient) => `Patient/${suffixed(patient.id ?? '')}`).sort(),
    )
  })

  it('writes every Patient and its Conditions to HAPI', async () => {
    for (const patient of patients) {
      const id = suffixed(patient.id ?? '')
      const stored = await t.hospital.read<FhirPatient>('Patient', id)
      const count = await t.hospital.search<FhirCondition>('Condition', {
        subject: `Patient/${id}`,
        _summary: 'count',
      })
      const expected = conditions.filter(
        (condition) => condition.subject.reference === `Patient/${patient.id ?? ''}`,
      ).length

      expect(stored?.id, `Patient/${id}`).toBe(id)
      expect(stored?.birthDate, `Patient/${id}`).toBe(patient.birthDate)
      expect(count.total, `Conditions of Patient/${id}`).toBe(expected)
    }
  })

  it('enrols exactly the patients with a neurological Condition', async () => {
    const valueSet = NeurologyValueSet.fromFile()
    const neurological = new Set(
      conditions
        .filter((condition) => valueSet.containsAny(condition.code?.coding))
        .map((condition) => (condition.subject.reference ?? '').replace(/^Patient\//, '')),
    )
    const expectedIds = patients
      .map((patient) => patient.id ?? '')
      .filter((id) => neurological.has(id))
      .map(suffixed)
    const otherIds = patients
      .map((patient) => patient.id ?? '')
      .filter((id) => !neurological.has(id))
      .map(suffixed)
    expect(expectedIds.length).toBeGreaterThan(0)
    expect(otherIds.length).toBeGreaterThan(0)

    for (const id of expectedIds) {
      const enrolled = await waitFor(`Patient/${id} enrolled`, () => registryPatientOf(id), 150_000)
      expect(enrolled.source, `Patient/${id}`).toBe('external')
    }
    for (const id of otherIds) {
      const outcomes = await waitFor(
        `the notification of Patient/${id} processed`,
        async () => {
          const rows = await patientOutcomes(id)
          return rows.length > 0 && rows.every((outcome) => outcome !== null) ? rows : undefined
        },
        150_000,
      )
      expect(outcomes, `Patient/${id}`).toContain('not-enrolled')
      expect(await registryPatientOf(id), `Patient/${id}`).toBeUndefined()
    }
  }, 400_000)

  it('records a notification for every resource', async () => {
    const expected = patients.length + conditions.length

    const processed = await waitFor(
      'a processed notification for every loaded resource',
      async () => {
        const count = await countNotifiedResources(undefined, true)
        return count >= expected ? count : undefined
      },
      150_000,
    )

    expect(processed).toBe(expected)
  }, 200_000)
})

describe('single resource files', () => {
  let folder: string

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'loader-int-'))
  })

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true })
  })

  it('loads a folder of resource files', async () => {
    const patientId = `single-patient-${RUN_SUFFIX}`
    const conditionId = `single-condition-${RUN_SUFFIX}`
    const observationId = `single-observation-${RUN_SUFFIX}`
    const directory = join(folder, 'resources')
    await mkdir(directory)
    await writeJson(join(directory, 'b-condition.json'), {
      resourceType: 'Condition',
      id: conditionId,
      code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] },
      subject: { reference: `Patient/${patientId}` },
      encounter: { reference: `Encounter/absent-${RUN_SUFFIX}` },
      onsetDateTime: '2015-01',
    })
    await writeJson(join(directory, 'a-patient.json'), {
      resourceType: 'Patient',
      id: patientId,
      name: [{ family: 'Single' }],
      birthDate: '1970',
    })
    await writeJson(join(directory, 'c-observation.json'), {
      resourceType: 'Observation',
      id: observationId,
      status: 'final',
      code: { text: 'Heart rate' },
    })
    await writeFile(join(directory, 'notes.txt'), 'not a FHIR resource')

    const readBatches = await readLoad([directory], TYPES)
    for (const entry of entriesOf(readBatches)) written.push(entry.request?.url ?? '')
    const loaded = await loadBatches(t.hospital, readBatches)
    const storedCondition = await t.hospital.read<FhirCondition>('Condition', conditionId)
    const storedPatient = await t.hospital.read<FhirPatient>('Patient', patientId)
    const storedObservation = await t.hospital.read('Observation', observationId)

    expect(entriesOf(readBatches).map((entry) => entry.request?.url)).toEqual([
      `Patient/${patientId}`,
      `Condition/${conditionId}`,
    ])
    expect(loaded.written).toEqual({ Patient: 1, Condition: 1 })
    expect(loaded.transactions).toBe(1)
    expect(loaded.patientIds).toEqual([`Patient/${patientId}`])
    expect(storedPatient?.name).toEqual([{ family: 'Single' }])
    expect(storedCondition?.subject.reference).toBe(`Patient/${patientId}`)
    expect(storedCondition?.onsetDateTime).toBe('2015-01')
    expect(storedCondition?.encounter).toBeUndefined()
    expect(storedObservation).toBeNull()
  })

  it('rejects a resource without id', async () => {
    const directory = join(folder, 'no-id')
    await mkdir(directory)
    await writeJson(join(directory, 'patient.json'), {
      resourceType: 'Patient',
      name: [{ family: 'Anonymous' }],
    })

    await expect(readLoad([directory], TYPES)).rejects.toThrow(/Patient .*has no id/)
  })
})

async function writeJson(path: string, resource: Record<string, unknown>): Promise<void> {
  await writeFile(path, JSON.stringify(resource))
}
