import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import type { PushJobData } from '../src/platform/queue.ts'
import type { BatchResult } from '../src/sync/push-batch.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'
import { conditionInput, hospitalCondition, patientInput } from './merge-fixtures.ts'

let t: TestRegistry

// No workers run, so rows stay pending until a test pushes them itself.
beforeAll(async () => {
  t = await startTestRegistry('push_batch', { PROCESS_ROLE: 'api' })
})

afterAll(async () => {
  await t.stop()
})

async function createPatient(): Promise<Patient> {
  const response = await t.api('POST', '/patients', patientInput())
  expect(response.status).toBe(201)
  return (await response.json()) as Patient
}

async function createCondition(patientId: string): Promise<Condition> {
  const response = await t.api('POST', '/conditions', conditionInput(patientId))
  expect(response.status).toBe(201)
  return (await response.json()) as Condition
}

function patientJob(patient: Patient): PushJobData {
  return { entityType: 'patient', entityId: patient.id }
}

function outcomeOf(results: BatchResult[], id: string): string {
  const result = results.find((candidate) => candidate.job.entityId === id)
  if (!result) return 'missing'
  return 'outcome' in result ? result.outcome : `error: ${String(result.error)}`
}

async function syncStateOf(table: 'patients' | 'conditions', id: string): Promise<string> {
  const result = await sql<{ sync_state: string }>`
    select sync_state from ${sql.table(table)} where id = ${id}`.execute(t.registry.db)
  return result.rows[0]?.sync_state ?? 'missing'
}

describe('PushBatch', () => {
  it('creates new patients in one transaction Bundle', async () => {
    const patients = [await createPatient(), await createPatient(), await createPatient()]

    const results = await t.registry.pushBatch.push(patients.map(patientJob), 'batchcreate')

    for (const patient of patients) {
      expect(outcomeOf(results, patient.id)).toBe('pushed-in-bundle')
      expect(await syncStateOf('patients', patient.id)).toBe('synced')
      const stored = await t.hospital.read<FhirPatient>('Patient', patient.id)
      expect(stored?.meta?.versionId).toBe('1')
    }
  })

  it('writes conditions of patients already in FHIR in the Bundle', async () => {
    const patient = await createPatient()
    await t.registry.pushBatch.push([patientJob(patient)], 'batchsubject')
    const conditions = [await createCondition(patient.id), await createCondition(patient.id)]

    const results = await t.registry.pushBatch.push(
      conditions.map((condition) => ({ entityType: 'condition', entityId: condition.id })),
      'batchconditions',
    )

    for (const condition of conditions) {
      expect(outcomeOf(results, condition.id)).toBe('pushed-in-bundle')
      expect(await syncStateOf('conditions', condition.id)).toBe('synced')
    }
  })

  it('bundles a new patient with its conditions', async () => {
    const patient = await createPatient()
    const conditions = [await createCondition(patient.id), await createCondition(patient.id)]

    // Conditions first: the Bundle still has to put the patient before them.
    const results = await t.registry.pushBatch.push(
      [
        ...conditions.map((condition) => ({
          entityType: 'condition' as const,
          entityId: condition.id,
        })),
        patientJob(patient),
      ],
      'batchtogether',
    )

    expect(outcomeOf(results, patient.id)).toBe('pushed-in-bundle')
    for (const condition of conditions) {
      expect(outcomeOf(results, condition.id)).toBe('pushed-in-bundle')
      const stored = await t.hospital.read<FhirCondition>('Condition', condition.id)
      expect(stored?.subject.reference).toBe(`Patient/${patient.id}`)
    }
  })

  it('pushes a condition alone when its patient waits', async () => {
    const patient = await createPatient()
    const conditions = [await createCondition(patient.id), await createCondition(patient.id)]

    const results = await t.registry.pushBatch.push(
      conditions.map((condition) => ({ entityType: 'condition', entityId: condition.id })),
      'batchnosubject',
    )

    // The single push writes the patient first.
    for (const condition of conditions) expect(outcomeOf(results, condition.id)).toBe('pushed')
    expect((await t.hospital.read<FhirPatient>('Patient', patient.id))?.id).toBe(patient.id)
  })

  it('pushes a row that FHIR changed meanwhile on its own, merging first', async () => {
    const patients = [await createPatient(), await createPatient(), await createPatient()]
    await t.registry.pushBatch.push(patients.map(patientJob), 'batchfirst')
    const [moved, ...inStep] = patients
    if (!moved) throw new Error('No patient')
    const stored = await t.hospital.read<FhirPatient>('Patient', moved.id)
    if (!stored) throw new Error('The first push did not reach FHIR')
    await t.hospital.update({ ...stored, gender: 'other' })
    for (const patient of patients) {
      const response = await t.api(
        'PATCH',
        `/patients/${patient.id}`,
        { birthDate: '1971-02-03' },
        { 'If-Match': '"1"', 'Content-Type': 'application/merge-patch+json' },
      )
      expect(response.status).toBe(200)
    }

    const results = await t.registry.pushBatch.push(patients.map(patientJob), 'batchmixed')

    for (const patient of inStep) expect(outcomeOf(results, patient.id)).toBe('pushed-in-bundle')
    expect(outcomeOf(results, moved.id)).toBe('merged-first')
  })

  it('falls back to single writes when HAPI rejects one entry', async () => {
    const patient = await createPatient()
    await t.registry.pushBatch.push([patientJob(patient)], 'batchbadsubject')
    const good = await createCondition(patient.id)
    const bad = await createCondition(patient.id)
    // A date the API would never accept, so HAPI rejects this entry and with it the whole Bundle.
    await sql`update conditions set onset = '{"dateTime": "2019-13-45"}' where id = ${bad.id}`.execute(
      t.registry.db,
    )

    const results = await t.registry.pushBatch.push(
      [good, bad].map((condition) => ({ entityType: 'condition', entityId: condition.id })),
      'batchreject',
    )

    expect(outcomeOf(results, good.id)).toBe('pushed')
    expect(outcomeOf(results, bad.id)).toMatch(/^error: FhirRequestError/)
    expect(await syncStateOf('conditions', good.id)).toBe('synced')
  })

  it('holds a condition whose patient FHIR deleted before the merge saw it', async () => {
    const patient = await createPatient()
    await t.registry.pushBatch.push([patientJob(patient)], 'batchsubjectgone')
    const condition = await createCondition(patient.id)
    await t.hospital.delete('Patient', patient.id)

    const outcome = await t.registry.push.push(
      { entityType: 'condition', entityId: condition.id },
      'subjectgone',
    )
    const conflicts = await sql<{ field_path: string }>`
      select field_path from conflicts
      where entity_id = ${patient.id} and status = 'open'`.execute(t.registry.db)

    expect(outcome).toBe('held')
    expect(conflicts.rows.map((row) => row.field_path)).toEqual(['(deleted)'])
    expect(await syncStateOf('conditions', condition.id)).toBe('conflict')
    expect(await syncStateOf('patients', patient.id)).toBe('conflict')
  })

  it('holds a patient delete when FHIR added a condition meanwhile', async () => {
    const patient = await createPatient()
    await t.registry.pushBatch.push([patientJob(patient)], 'batchdeleteadded')
    const deleted = await t.api('DELETE', `/patients/${patient.id}`, undefined, {
      'If-Match': '"1"',
    })
    expect(deleted.status).toBe(204)
    const added = await t.hospital.post<FhirCondition>(
      'Condition',
      hospitalCondition(`Patient/${patient.id}`),
    )

    const outcome = await t.registry.push.push(
      { entityType: 'patient', entityId: patient.id },
      'deleteadded',
    )
    const conflicts = await sql<{ entity_type: string; field_path: string }>`
      select c.entity_type, c.field_path from conflicts c
      join conditions on conditions.id = c.entity_id
      where conditions.fhir_id = ${added.id ?? ''} and c.status = 'open'`.execute(t.registry.db)

    expect(outcome).toBe('held')
    expect(conflicts.rows).toEqual([{ entity_type: 'condition', field_path: '(deleted)' }])
    expect(await t.hospital.read<FhirPatient>('Patient', patient.id)).not.toBeNull()
    expect(await t.hospital.read<FhirCondition>('Condition', added.id ?? '')).not.toBeNull()
  })
})
