import type { Condition as FhirCondition } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'
import {
  clash,
  conditionInput,
  conflictsOf,
  createSynced,
  fhirIdOf,
  getEntity,
  hospitalEdit,
  mergeAuditOf,
  patchEntity,
  patientInput,
  rowOf,
  waitForSettled,
} from './merge-fixtures.ts'

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('merge_deletes')
})

afterAll(async () => {
  await t.stop()
})

async function createSyncedCondition(): Promise<Condition> {
  const patient = await createSynced(t, 'patient', patientInput())
  return createSynced(t, 'condition', conditionInput(patient.id))
}

async function deleteCondition(condition: Condition): Promise<void> {
  const response = await t.api('DELETE', `/conditions/${condition.id}`, undefined, {
    'If-Match': `"${condition.version}"`,
  })
  expect(response.status).toBe(204)
}

describe('FHIR delete', () => {
  it('soft-deletes a row the registry did not change', async () => {
    const synced = await createSyncedCondition()
    const fhirId = fhirIdOf(synced)

    await t.hospital.delete('Condition', fhirId)
    await waitForSettled(t, 'condition', synced.id)
    const row = await rowOf(t, 'condition', synced.id)
    const deletes = (await mergeAuditOf(t, 'condition', synced.id)).filter(
      (audit) => audit.action === 'delete',
    )

    expect((await t.api('GET', `/conditions/${synced.id}`)).status).toBe(404)
    expect(row.deleted_at).not.toBeNull()
    expect(row.sync_state).toBe('synced')
    expect(await t.hospital.read('Condition', fhirId)).toBeNull()
    expect(await conflictsOf(t, 'condition', synced.id)).toHaveLength(0)
    expect(deletes).toHaveLength(1)
    expect(deletes[0]?.actor).toBe('fhir-merge')
    expect(deletes[0]?.after).toBeNull()
  })

  it('opens a conflict when the registry edited the row', async () => {
    const synced = await createSyncedCondition()
    const fhirId = fhirIdOf(synced)

    await t.hospital.delete('Condition', fhirId)
    await patchEntity(t, 'condition', synced, { clinicalStatus: 'relapse' })
    await waitForSettled(t, 'condition', synced.id)
    const condition = await getEntity(t, 'condition', synced.id)
    const conflicts = await conflictsOf(t, 'condition', synced.id)

    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({
      field_path: '(deleted)',
      item_key: null,
      status: 'open',
      fhir_value: null,
    })
    expect(conflicts[0]?.registry_value).toMatchObject({ clinicalStatus: 'relapse' })
    expect(conflicts[0]?.base_value).toMatchObject({ clinicalStatus: 'active' })
    expect(condition.clinicalStatus).toBe('relapse')
    expect(condition.sync.state).toBe('conflict')
    expect(await t.hospital.read('Condition', fhirId)).toBeNull()
  })
})

describe('registry delete', () => {
  it('waits when the hospital edited the resource first', async () => {
    const synced = await createSyncedCondition()
    const fhirId = fhirIdOf(synced)

    await hospitalEdit(t, 'condition', fhirId, (resource) => {
      resource.onsetDateTime = '2014-06'
    })
    await deleteCondition(synced)
    await waitForSettled(t, 'condition', synced.id)
    const row = await rowOf(t, 'condition', synced.id)
    const conflicts = await conflictsOf(t, 'condition', synced.id)
    const fhir = await t.hospital.read<FhirCondition>('Condition', fhirId)

    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({
      field_path: '(deleted)',
      item_key: null,
      status: 'open',
      registry_value: null,
    })
    expect(conflicts[0]?.fhir_value).toMatchObject({ onset: { dateTime: '2014-06' } })
    expect((await t.api('GET', `/conditions/${synced.id}`)).status).toBe(404)
    expect(row.deleted_at).not.toBeNull()
    expect(row.sync_state).toBe('conflict')
    expect(fhir?.onsetDateTime).toBe('2014-06')
  })

  it('keeps a patient whose condition the hospital edited', async () => {
    const patient = await createSynced(t, 'patient', patientInput())
    const condition = await createSynced(t, 'condition', conditionInput(patient.id))
    const conditionFhirId = fhirIdOf(condition)

    await hospitalEdit(t, 'condition', conditionFhirId, (resource) => {
      resource.onsetDateTime = '2016-02'
    })
    const response = await t.api('DELETE', `/patients/${patient.id}`, undefined, {
      'If-Match': `"${patient.version}"`,
    })
    expect(response.status).toBe(204)
    await waitForSettled(t, 'patient', patient.id)
    const conflicts = await conflictsOf(t, 'condition', condition.id)
    const fhirCondition = await t.hospital.read<FhirCondition>('Condition', conditionFhirId)

    expect(conflicts.map((conflict) => conflict.field_path)).toEqual(['(deleted)'])
    expect(fhirCondition?.onsetDateTime).toBe('2016-02')
    expect(await t.hospital.read('Patient', fhirIdOf(patient))).not.toBeNull()

    // The steward keeps the registry's delete: the condition goes, then the patient.
    const resolved = await t.api('POST', `/conflicts/${conflicts[0]?.id ?? ''}/resolve`, {
      choice: 'registry',
    })
    expect(resolved.status).toBe(200)
    await waitForSettled(t, 'condition', condition.id)
    await waitForSettled(t, 'patient', patient.id)

    expect(await t.hospital.read('Condition', conditionFhirId)).toBeNull()
    expect(await t.hospital.read('Patient', fhirIdOf(patient))).toBeNull()
  })

  it('dismisses the open field conflicts of a deleted patient', async () => {
    const synced = await createSynced(t, 'patient', patientInput({ birthDate: '1975-04-04' }))
    const patched = await clash(
      t,
      'patient',
      synced,
      (resource) => {
        resource.birthDate = '1975-04-05'
      },
      { birthDate: '1975-05-04' },
    )
    await waitForSettled(t, 'patient', synced.id)
    expect((await conflictsOf(t, 'patient', synced.id)).map((c) => c.status)).toEqual(['open'])

    const current = await getEntity(t, 'patient', synced.id)
    const response = await t.api('DELETE', `/patients/${patched.id}`, undefined, {
      'If-Match': `"${current.version}"`,
    })
    expect(response.status).toBe(204)
    await waitForSettled(t, 'patient', synced.id)

    expect((await conflictsOf(t, 'patient', synced.id)).map((c) => c.status)).toEqual(['dismissed'])
    expect(await t.hospital.read('Patient', fhirIdOf(synced))).toBeNull()
  })

  it('proceeds after an unmapped FHIR edit', async () => {
    const synced = await createSyncedCondition()
    const fhirId = fhirIdOf(synced)

    await hospitalEdit(t, 'condition', fhirId, (resource) => {
      resource.note = [{ text: 'Reviewed at the MS clinic' }]
    })
    await deleteCondition(synced)
    await waitForSettled(t, 'condition', synced.id)
    const row = await rowOf(t, 'condition', synced.id)

    expect(await t.hospital.read('Condition', fhirId)).toBeNull()
    expect(row.deleted_at).not.toBeNull()
    expect(row.sync_state).toBe('synced')
    expect(await conflictsOf(t, 'condition', synced.id)).toHaveLength(0)
  })
})
