import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Bundle, Patient as FhirPatient } from '@medplum/fhirtypes'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { BackfillRepository } from '../src/sync/backfill.repository.ts'
import { TEST_DATABASE_URL, startTestRegistry, type TestRegistry } from './harness.ts'
import {
  ICD_10_CM,
  MULTIPLE_SCLEROSIS,
  SNOMED_CT,
  conditionInput,
  createdIds,
  hospitalCondition,
  hospitalPatient,
  patientInput,
} from './merge-fixtures.ts'

const EPILEPSY_ICD = { system: ICD_10_CM, code: 'G40.909', display: 'Epilepsy, unspecified' }
const TYPE_2_DIABETES = { system: SNOMED_CT, code: '44054006', display: 'Diabetes mellitus type 2' }

const REPOSITORY_ROOT = join(import.meta.dirname, '..')
/** The project's Node 24, which runs the TypeScript scripts directly. */
const NODE = join(REPOSITORY_ROOT, 'node_modules', '.bin', 'node')

const runs = new BackfillRepository()
let t: TestRegistry
/** Resources this file wrote to HAPI as the hospital, deleted again at the end. */
const hospitalWrites = { Patient: new Set<string>(), Condition: new Set<string>() }

beforeAll(async () => {
  // No Subscriptions and no workers: the registry learns of HAPI's data only through the
  // backfill, and its own writes stay pending until the backfill pushes them.
  t = await startTestRegistry('backfill', { REGISTER_SUBSCRIPTIONS: 'false', PROCESS_ROLE: 'api' })
})

afterAll(async () => {
  await deleteOwnResources()
  await t.stop()
})

/** Creates an identifier system of its own, so a backfill reads only this test's Patients. */
function newHospitalSystem(): string {
  return `urn:brain-registry-test:backfill:${crypto.randomUUID()}`
}

interface HospitalPatient {
  codings: { system: string; code: string; display: string }[]
}

/**
 * Writes the patients in one transaction Bundle, so HAPI gives them all the same lastUpdated and
 * the backfill must page through one instant. Returns the FHIR id of each patient, in order.
 */
async function writeHospitalPatients(
  system: string,
  patients: readonly HospitalPatient[],
): Promise<string[]> {
  const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [] }
  patients.forEach((patient, index) => {
    const patientUrl = `urn:uuid:${crypto.randomUUID()}`
    bundle.entry?.push({
      fullUrl: patientUrl,
      resource: hospitalPatient(`mrn-${index}`, {
        identifier: [{ use: 'usual', system, value: `mrn-${index}` }],
      }),
      request: { method: 'POST', url: 'Patient' },
    })
    for (const coding of patient.codings) {
      bundle.entry?.push({
        fullUrl: `urn:uuid:${crypto.randomUUID()}`,
        resource: hospitalCondition(patientUrl, coding),
        request: { method: 'POST', url: 'Condition' },
      })
    }
  })
  const ids = createdIds(await t.hospital.transaction(bundle))
  for (const id of ids.Patient) hospitalWrites.Patient.add(id)
  for (const id of ids.Condition) hospitalWrites.Condition.add(id)
  return ids.Patient
}

/** Deletes what this file wrote to HAPI: the hospital's resources and the registry's pushes. */
async function deleteOwnResources(): Promise<void> {
  const pushed = await sql<{ type: 'Patient' | 'Condition'; fhir_id: string }>`
    select 'Patient' as type, fhir_id from patients where fhir_version_id is not null
    union all
    select 'Condition', fhir_id from conditions where fhir_version_id is not null`.execute(
    t.registry.db,
  )
  for (const row of pushed.rows) hospitalWrites[row.type].add(row.fhir_id)
  // Conditions first: HAPI refuses to delete a Patient that a Condition still references.
  const urls = [
    ...[...hospitalWrites.Condition].map((id) => `Condition/${id}`),
    ...[...hospitalWrites.Patient].map((id) => `Patient/${id}`),
  ]
  if (urls.length === 0) return
  await t.hospital.transaction({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: urls.map((url) => ({ request: { method: 'DELETE', url } })),
  })
}

async function patientRowsOf(fhirIds: readonly string[]) {
  return t.registry.db
    .selectFrom('patients')
    .select(['id', 'fhir_id', 'source'])
    .where('fhir_id', 'in', fhirIds)
    .execute()
}

async function conditionCodesOf(patientId: string): Promise<string[]> {
  const rows = await t.registry.db
    .selectFrom('conditions')
    .select('code')
    .where('patient_id', '=', patientId)
    .execute()
  return rows
    .map((row) => (row.code as { coding: { code: string }[] }).coding[0]?.code ?? '')
    .sort()
}

async function createPending<T>(path: string, body: unknown): Promise<T> {
  const response = await t.api('POST', path, body)
  expect(response.status).toBe(201)
  return (await response.json()) as T
}

describe('from-fhir backfill', () => {
  it('enrols exactly the neurological patients with their conditions', async () => {
    const system = newHospitalSystem()
    const ids = await writeHospitalPatients(system, [
      { codings: [MULTIPLE_SCLEROSIS] },
      { codings: [] },
      { codings: [EPILEPSY_ICD, TYPE_2_DIABETES] },
      { codings: [TYPE_2_DIABETES] },
      { codings: [] },
      { codings: [MULTIPLE_SCLEROSIS] },
      { codings: [] },
    ])

    const result = await t.registry.backfill.run('from-fhir', {
      pageSize: 2,
      patientSearch: { identifier: `${system}|` },
    })

    expect(result.status).toBe('finished')
    expect(result.processed).toBe(7)
    expect(result.counts).toEqual({ enrolled: 3, 'not-enrolled': 4 })
    const rows = await patientRowsOf(ids)
    expect(rows.map((row) => row.fhir_id).sort()).toEqual([ids[0], ids[2], ids[5]].sort())
    expect(rows.every((row) => row.source === 'external')).toBe(true)
    const epilepsy = rows.find((row) => row.fhir_id === ids[2])
    expect(await conditionCodesOf(epilepsy?.id ?? '')).toEqual(['44054006', 'G40.909'])
    const finished = await runs.findById(t.registry.db, result.runId)
    expect(finished?.status).toBe('finished')
  })

  it('resumes an interrupted run without duplicates', async () => {
    const system = newHospitalSystem()
    const ids = await writeHospitalPatients(system, [
      { codings: [MULTIPLE_SCLEROSIS] },
      { codings: [] },
      { codings: [MULTIPLE_SCLEROSIS, EPILEPSY_ICD] },
      { codings: [TYPE_2_DIABETES] },
      { codings: [EPILEPSY_ICD] },
      { codings: [] },
    ])
    const search = { identifier: `${system}|` }

    const first = await t.registry.backfill.run('from-fhir', {
      pageSize: 2,
      maxPages: 1,
      patientSearch: search,
    })
    const stopped = await runs.findById(t.registry.db, first.runId)
    // A crash after the merges of the next page but before its cursor was saved: the resumed
    // run applies that page again.
    const second = await t.registry.backfill.run('from-fhir', {
      pageSize: 2,
      maxPages: 1,
      patientSearch: search,
    })
    await runs.saveProgress(t.registry.db, first.runId, {
      cursor: stopped?.cursor,
      processed: stopped?.processed ?? 0,
      counts: stopped?.counts ?? {},
      now: new Date(),
    })
    const resumed = await t.registry.backfill.run('from-fhir', {
      pageSize: 2,
      patientSearch: search,
    })

    expect(first.status).toBe('stopped')
    expect(first.processed).toBe(2)
    expect(stopped?.status).toBe('running')
    expect(second.runId).toBe(first.runId)
    expect(resumed.runId).toBe(first.runId)
    expect(resumed.resumed).toBe(true)
    expect(resumed.status).toBe('finished')
    expect(resumed.processed).toBe(6)
    const rows = await patientRowsOf(ids)
    expect(rows.map((row) => row.fhir_id).sort()).toEqual([ids[0], ids[2], ids[4]].sort())
    for (const row of rows) {
      const codes = await conditionCodesOf(row.id)
      expect(new Set(codes).size).toBe(codes.length)
    }
    const both = rows.find((row) => row.fhir_id === ids[2])
    expect(await conditionCodesOf(both?.id ?? '')).toEqual(['24700007', 'G40.909'])
  })

  it('abandons the unfinished run on restart', async () => {
    const system = newHospitalSystem()
    await writeHospitalPatients(system, [{ codings: [] }, { codings: [] }, { codings: [] }])
    const search = { identifier: `${system}|` }
    const stopped = await t.registry.backfill.run('from-fhir', {
      pageSize: 1,
      maxPages: 1,
      patientSearch: search,
    })

    const restarted = await t.registry.backfill.run('from-fhir', {
      restart: true,
      pageSize: 2,
      patientSearch: search,
    })

    expect(restarted.runId).not.toBe(stopped.runId)
    expect(restarted.resumed).toBe(false)
    expect(restarted.processed).toBe(3)
    expect((await runs.findById(t.registry.db, stopped.runId))?.status).toBe('abandoned')
  })

  it('rejects other search parameters for an unfinished run', async () => {
    const system = newHospitalSystem()
    await writeHospitalPatients(system, [{ codings: [] }, { codings: [] }])
    await t.registry.backfill.run('from-fhir', {
      pageSize: 1,
      maxPages: 1,
      patientSearch: { identifier: `${system}|` },
    })

    await expect(
      t.registry.backfill.run('from-fhir', { patientSearch: { identifier: 'urn:other|' } }),
    ).rejects.toMatchObject({ code: 'BACKFILL_SEARCH_CHANGED' })
    await t.registry.backfill.run('from-fhir', { patientSearch: { identifier: `${system}|` } })
  })
})

describe('to-fhir backfill', () => {
  it('writes pending rows to HAPI once', async () => {
    const patient = await createPending<Patient>('/patients', patientInput())
    const condition = await createPending<Condition>('/conditions', conditionInput(patient.id))
    expect(await t.hospital.read('Patient', patient.id)).toBeNull()
    const pending = await sql<{ count: number }>`
      select (select count(*) from patients where sync_state = 'pending')::int
        + (select count(*) from conditions where sync_state = 'pending')::int as count`.execute(
      t.registry.db,
    )

    const first = await t.registry.backfill.run('to-fhir', { pageSize: 1 })
    const second = await t.registry.backfill.run('to-fhir')

    expect(first.status).toBe('finished')
    expect(first.processed).toBe(pending.rows[0]?.count)
    expect(first.counts.failed).toBeUndefined()
    const stored = await t.hospital.read<FhirPatient>('Patient', patient.id)
    expect(stored?.meta?.versionId).toBe('1')
    expect(stored?.identifier).toContainEqual(expect.objectContaining({ value: patient.id }))
    const storedCondition = await t.hospital.read('Condition', condition.sync.fhirId ?? '')
    expect(storedCondition?.meta?.versionId).toBe('1')
    expect(second.processed).toBe(0)
    expect(second.counts).toEqual({})
    expect((await t.hospital.read('Patient', patient.id))?.meta?.versionId).toBe('1')
  })

  it('writes pending rows in Bundles', async () => {
    const patients = [
      await createPending<Patient>('/patients', patientInput()),
      await createPending<Patient>('/patients', patientInput()),
    ]
    const condition = await createPending<Condition>(
      '/conditions',
      conditionInput(patients[1]?.id ?? ''),
    )
    const pushBatch = { batch: t.registry.pushBatch, size: 2 }

    const first = await t.registry.backfill.run('to-fhir', { pageSize: 3, pushBatch })
    const second = await t.registry.backfill.run('to-fhir', { pushBatch })

    expect(first.status).toBe('finished')
    expect(first.counts).toEqual({ pushed: 3 })
    for (const patient of patients) {
      expect((await t.hospital.read('Patient', patient.id))?.meta?.versionId).toBe('1')
    }
    const storedCondition = await t.hospital.read('Condition', condition.sync.fhirId ?? '')
    expect(storedCondition?.meta?.versionId).toBe('1')
    expect(second.processed).toBe(0)
  })

  it('counts a failing row in a Bundle and pushes the rest', async () => {
    const blocked = await createPending<Patient>('/patients', patientInput())
    await t.registry.backfill.run('to-fhir')
    await t.registry.db
      .updateTable('patients')
      .set({ fhir_version_id: 5, sync_state: 'pending' })
      .where('id', '=', blocked.id)
      .execute()
    const other = await createPending<Patient>('/patients', patientInput())

    const result = await t.registry.backfill.run('to-fhir', {
      pushBatch: { batch: t.registry.pushBatch, size: 20 },
    })

    expect(result.counts).toEqual({ failed: 1, pushed: 1 })
    expect((await t.hospital.read('Patient', other.id))?.meta?.versionId).toBe('1')
    await t.registry.db
      .updateTable('patients')
      .set({ fhir_version_id: 1 })
      .where('id', '=', blocked.id)
      .execute()
    expect((await t.registry.backfill.run('to-fhir')).counts).toEqual({ unchanged: 1 })
  })

  it('counts a failing row and pushes the rest', async () => {
    const blocked = await createPending<Patient>('/patients', patientInput())
    await t.registry.backfill.run('to-fhir')
    // The registry recorded a FHIR version above HAPI's, as after a restore of HAPI from a
    // backup, so the push refuses to write the row.
    await t.registry.db
      .updateTable('patients')
      .set({ fhir_version_id: 5, sync_state: 'pending' })
      .where('id', '=', blocked.id)
      .execute()
    const other = await createPending<Patient>('/patients', patientInput())

    const result = await t.registry.backfill.run('to-fhir')

    expect(result.status).toBe('finished')
    expect(result.counts).toEqual({ failed: 1, pushed: 1 })
    expect((await t.hospital.read('Patient', other.id))?.meta?.versionId).toBe('1')

    // Back to HAPI's version, so the next backfill of this file finds the row in step.
    await t.registry.db
      .updateTable('patients')
      .set({ fhir_version_id: 1 })
      .where('id', '=', blocked.id)
      .execute()
    expect((await t.registry.backfill.run('to-fhir')).counts).toEqual({ unchanged: 1 })
  })

  it('runs from the command line', async () => {
    const patient = await createPending<Patient>('/patients', patientInput())
    const config = t.registry.config

    // stdout is a pipe here, so the command reports its progress as JSON log lines.
    const { stdout } = await promisify(execFile)(
      NODE,
      ['scripts/backfill.ts', '--direction', 'to-fhir', '--page-size', '10'],
      {
        cwd: REPOSITORY_ROOT,
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: TEST_DATABASE_URL,
          DATABASE_SCHEMA: config.DATABASE_SCHEMA,
          QUEUE_SCHEMA: config.QUEUE_SCHEMA,
          FHIR_BASE_URL: config.FHIR_BASE_URL,
          REGISTRY_IDENTIFIER_SYSTEM: config.REGISTRY_IDENTIFIER_SYSTEM,
          FHIR_SOURCE_URI: config.FHIR_SOURCE_URI,
          LOG_LEVEL: 'info',
        },
      },
    )

    const lines = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    const progress = lines.filter((line) => line.message === 'Backfill progress')
    expect(progress).toHaveLength(1)
    expect(progress[0]).toMatchObject({ direction: 'to-fhir', processed: 1, total: 1 })
    expect(progress[0]?.ratePerSecond).toEqual(expect.any(Number))
    expect(progress[0]?.etaSeconds).toBe(0)
    expect(lines.find((line) => line.message === 'Backfill command ended')).toMatchObject({
      exitCode: 0,
    })
    expect((await t.hospital.read('Patient', patient.id))?.meta?.versionId).toBe('1')
  })

  it('rejects a second run of one direction', async () => {
    await t.registry.db.connection().execute(async (connection) => {
      expect(await runs.tryLockDirection(connection, 'to-fhir')).toBe(true)
      try {
        await expect(t.registry.backfill.run('to-fhir')).rejects.toMatchObject({
          code: 'BACKFILL_RUNNING',
        })
      } finally {
        await runs.unlockDirection(connection, 'to-fhir')
      }
    })
  })
})
