import { setTimeout as sleep } from 'node:timers/promises'
import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConflictRow } from '../src/conflicts/conflict.repository.ts'
import type { Patient, PatientFields } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import {
  HOSPITAL_MRN_SYSTEM,
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
  readFhir,
  waitForSettled,
} from './merge-fixtures.ts'

// The registry's default window: two changes at most this far apart count as concurrent.
const CLOCK_SKEW_MS = 2_000

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('merge_rules', { CLOCK_SKEW_MS: String(CLOCK_SKEW_MS) })
})

afterAll(async () => {
  await t.stop()
})

interface SettledPatient {
  patient: Patient
  fhir: FhirPatient
  conflicts: ConflictRow[]
}

/** Waits until the patient settled, then reads the row, the HAPI resource and the conflicts. */
async function settledPatient(registry: TestRegistry, id: string): Promise<SettledPatient> {
  await waitForSettled(registry, 'patient', id)
  const patient = await getEntity(registry, 'patient', id)
  return {
    patient,
    fhir: await readFhir(registry, 'patient', fhirIdOf(patient)),
    conflicts: await conflictsOf(registry, 'patient', id),
  }
}

/**
 * Creates a synced patient, lets the hospital and the registry change it from the same base and
 * returns the settled state.
 */
async function patientClash(
  registry: TestRegistry,
  hospitalChange: (resource: FhirPatient) => void,
  registryChange: Partial<PatientFields>,
): Promise<SettledPatient> {
  const synced = await createSynced(registry, 'patient', patientInput())
  await clash(registry, 'patient', synced, hospitalChange, registryChange)
  return settledPatient(registry, synced.id)
}

/** Lets the hospital record the patient as `other` while the registry records `male`. */
async function genderClash(registry: TestRegistry): Promise<SettledPatient> {
  return patientClash(
    registry,
    (resource) => {
      resource.gender = 'other'
    },
    { gender: 'male' },
  )
}

function registryIdentifierOf(patient: Patient, system: string) {
  return patient.identifiers.find((identifier) => identifier.system === system)
}

describe('lww rule', () => {
  let skewless: TestRegistry

  beforeAll(async () => {
    // With no skew window, any two change times are ordered, so the registry's PATCH, which
    // follows the hospital's write, is the later change.
    skewless = await startTestRegistry('merge_rules_lww', { CLOCK_SKEW_MS: '0' })
  })

  afterAll(async () => {
    await skewless.stop()
  })

  it('takes the later registry change', async () => {
    const { patient, fhir, conflicts } = await genderClash(skewless)

    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({
      field_path: 'gender',
      item_key: null,
      status: 'resolved',
      resolution: 'lww-registry',
      base_value: 'female',
      registry_value: 'male',
      fhir_value: 'other',
    })
    expect(patient.gender).toBe('male')
    expect(patient.sync.state).toBe('synced')
    expect(fhir.gender).toBe('male')
    expect(patient.sync.fhirVersionId).toBe(Number(fhir.meta?.versionId))
  })

  it('opens a conflict within the skew window', async () => {
    const { patient, fhir, conflicts } = await genderClash(t)

    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({
      field_path: 'gender',
      item_key: null,
      status: 'open',
      resolution: null,
      base_value: 'female',
      registry_value: 'male',
      fhir_value: 'other',
    })
    expect(patient.gender).toBe('male')
    expect(patient.sync.state).toBe('conflict')
    expect(fhir.gender).toBe('other')
  })

  it('takes a FHIR change made after the window', async () => {
    const first = await genderClash(t)
    const { field_changed_at: changedAt } = await t.registry.db
      .selectFrom('patients')
      .select('field_changed_at')
      .where('id', '=', first.patient.id)
      .executeTakeFirstOrThrow()
    const registryChangedAt = Date.parse(changedAt.gender ?? '')
    expect(Number.isNaN(registryChangedAt)).toBe(false)

    // The hospital's second change must come clearly after the registry's, outside the window.
    await sleep(Math.max(0, registryChangedAt + CLOCK_SKEW_MS + 500 - Date.now()))
    await hospitalEdit(t, 'patient', fhirIdOf(first.patient), (resource) => {
      resource.gender = 'unknown'
    })
    const { patient, fhir, conflicts } = await settledPatient(t, first.patient.id)

    expect(conflicts).toHaveLength(2)
    expect(conflicts[0]).toMatchObject({
      field_path: 'gender',
      status: 'resolved',
      resolution: 'converged',
    })
    expect(conflicts[1]).toMatchObject({
      field_path: 'gender',
      item_key: null,
      status: 'resolved',
      resolution: 'lww-fhir',
      base_value: 'other',
      registry_value: 'male',
      fhir_value: 'unknown',
    })
    expect(patient.gender).toBe('unknown')
    expect(patient.updatedBy).toBe('fhir-merge')
    expect(patient.sync.state).toBe('synced')
    expect(fhir.gender).toBe('unknown')
  })
})

describe('manual rule', () => {
  it('keeps both birth dates and opens a conflict', async () => {
    const { patient, fhir, conflicts } = await patientClash(
      t,
      (resource) => {
        resource.birthDate = '1970-01-02'
      },
      { birthDate: '1971-01-01' },
    )

    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({
      field_path: 'birthDate',
      item_key: null,
      status: 'open',
      resolution: null,
      base_value: '1970-01-01',
      registry_value: '1971-01-01',
      fhir_value: '1970-01-02',
    })
    expect(patient.birthDate).toBe('1971-01-01')
    expect(patient.sync.state).toBe('conflict')
    expect(fhir.birthDate).toBe('1970-01-02')
  })

  it('holds the birth date back from later pushes', async () => {
    const first = await patientClash(
      t,
      (resource) => {
        resource.birthDate = '1970-01-02'
      },
      { birthDate: '1971-01-01' },
    )

    await patchEntity(t, 'patient', first.patient, {
      telecom: [{ system: 'phone', value: '+46 8 123 456', use: 'home' }],
    })
    await waitFor('the new phone in HAPI', async () => {
      const stored = await readFhir(t, 'patient', fhirIdOf(first.patient))
      return stored.telecom?.length ? true : undefined
    })
    const { patient, fhir, conflicts } = await settledPatient(t, first.patient.id)

    expect(fhir.telecom).toEqual([{ system: 'phone', value: '+46 8 123 456', use: 'home' }])
    expect(fhir.birthDate).toBe('1970-01-02')
    expect(patient.birthDate).toBe('1971-01-01')
    expect(patient.sync.state).toBe('conflict')
    expect(conflicts.map((conflict) => [conflict.field_path, conflict.status])).toEqual([
      ['birthDate', 'open'],
    ])
  })

  it('closes a conflict the registry settles', async () => {
    const first = await patientClash(
      t,
      (resource) => {
        resource.birthDate = '1970-01-02'
      },
      { birthDate: '1971-01-01' },
    )

    await patchEntity(t, 'patient', first.patient, { birthDate: '1970-01-02' })
    const { patient, fhir, conflicts } = await settledPatient(t, first.patient.id)

    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({
      field_path: 'birthDate',
      status: 'resolved',
      resolution: 'converged',
    })
    expect(patient.birthDate).toBe('1970-01-02')
    expect(patient.sync.state).toBe('synced')
    expect(fhir.birthDate).toBe('1970-01-02')
  })
})

describe('registry rule', () => {
  it('restores a changed registry identifier', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    const own = registryIdentifierOf(synced, t.identifierSystem)
    const forged = { use: 'official' as const, system: t.identifierSystem, value: 'forged-1' }

    await hospitalEdit(t, 'patient', fhirIdOf(synced), (resource) => {
      resource.identifier = (resource.identifier ?? []).map((identifier) =>
        identifier.system === t.identifierSystem ? forged : identifier,
      )
    })
    const { patient, fhir, conflicts } = await settledPatient(t, synced.id)
    const reverts = (await mergeAuditOf(t, 'patient', synced.id)).filter(
      (row) => row.action === 'revert',
    )

    expect(own).toEqual({ use: 'official', system: t.identifierSystem, value: synced.id })
    expect(fhir.identifier).toEqual([own])
    expect(patient.identifiers).toEqual([own])
    expect(patient.sync.state).toBe('synced')
    expect(conflicts).toHaveLength(0)
    expect(reverts.map((row) => [row.before, row.after])).toEqual(
      expect.arrayContaining([
        [
          {
            field: 'registryIdentifier',
            itemKey: `${t.identifierSystem}|${synced.id}`,
            value: null,
          },
          {
            field: 'registryIdentifier',
            itemKey: `${t.identifierSystem}|${synced.id}`,
            value: own,
          },
        ],
        [
          { field: 'registryIdentifier', itemKey: `${t.identifierSystem}|forged-1`, value: forged },
          { field: 'registryIdentifier', itemKey: `${t.identifierSystem}|forged-1`, value: null },
        ],
      ]),
    )
    expect(reverts).toHaveLength(2)
  })

  it('restores a removed registry identifier', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    const own = registryIdentifierOf(synced, t.identifierSystem)
    const mrn = { use: 'usual' as const, system: HOSPITAL_MRN_SYSTEM, value: 'MRN-4711' }

    await hospitalEdit(t, 'patient', fhirIdOf(synced), (resource) => {
      resource.identifier = [mrn]
    })
    const { patient, fhir } = await settledPatient(t, synced.id)
    const reverts = (await mergeAuditOf(t, 'patient', synced.id)).filter(
      (row) => row.action === 'revert',
    )

    expect(fhir.identifier).toEqual([mrn, own])
    expect(patient.identifiers).toEqual([mrn, own])
    expect(patient.sync.state).toBe('synced')
    expect(reverts).toHaveLength(1)
    expect(reverts[0]?.before).toEqual({
      field: 'registryIdentifier',
      itemKey: `${t.identifierSystem}|${synced.id}`,
      value: null,
    })
    expect(reverts[0]?.after).toEqual({
      field: 'registryIdentifier',
      itemKey: `${t.identifierSystem}|${synced.id}`,
      value: own,
    })
  })
})

describe('fhir rule', () => {
  it('takes the FHIR recorded date', async () => {
    const patient = await createSynced(t, 'patient', patientInput())
    const synced = await createSynced(
      t,
      'condition',
      conditionInput(patient.id, { recordedDate: '2016-02-03' }),
    )

    await clash(
      t,
      'condition',
      synced,
      (resource) => {
        resource.recordedDate = '2017-01-01'
      },
      { recordedDate: '2018-01-01' },
    )
    await waitForSettled(t, 'condition', synced.id)
    const condition = await getEntity(t, 'condition', synced.id)
    const fhir = await readFhir(t, 'condition', fhirIdOf(condition))
    const conflicts = await conflictsOf(t, 'condition', synced.id)
    const updates = (await mergeAuditOf(t, 'condition', synced.id)).filter(
      (row) => row.action === 'update',
    )

    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({
      field_path: 'recordedDate',
      status: 'resolved',
      resolution: 'fhir-rule',
      base_value: '2016-02-03',
      registry_value: '2018-01-01',
      fhir_value: '2017-01-01',
    })
    expect(condition.recordedDate).toBe('2017-01-01')
    expect(condition.updatedBy).toBe('fhir-merge')
    expect(condition.sync.state).toBe('synced')
    expect(fhir.recordedDate).toBe('2017-01-01')
    expect(updates).toHaveLength(1)
    expect(updates[0]?.actor).toBe('fhir-merge')
    expect(updates[0]?.before).toMatchObject({ recordedDate: '2018-01-01' })
    expect(updates[0]?.after).toMatchObject({ recordedDate: '2017-01-01' })
  })
})

describe('MERGE_RULES override', () => {
  let genderManual: TestRegistry

  beforeAll(async () => {
    genderManual = await startTestRegistry('merge_rules_override', {
      CLOCK_SKEW_MS: '0',
      MERGE_RULES: 'patient.gender=manual',
    })
  })

  afterAll(async () => {
    await genderManual.stop()
  })

  it('makes a gender clash wait for a steward', async () => {
    const { patient, fhir, conflicts } = await patientClash(
      genderManual,
      (resource) => {
        resource.gender = 'other'
        resource.name = [{ use: 'official', family: 'Lindgren', given: ['Maja'] }]
      },
      { gender: 'male', names: [{ use: 'official', family: 'Lindkvist', given: ['Maja'] }] },
    )
    const byField = new Map(conflicts.map((conflict) => [conflict.field_path, conflict]))

    expect(conflicts).toHaveLength(2)
    expect(byField.get('gender')).toMatchObject({ status: 'open', resolution: null })
    // Names keep the default lww rule, which settles the same kind of clash at once.
    expect(byField.get('names')).toMatchObject({
      item_key: 'official',
      status: 'resolved',
      resolution: 'lww-registry',
    })
    expect(patient.gender).toBe('male')
    expect(patient.names).toEqual([{ use: 'official', family: 'Lindkvist', given: ['Maja'] }])
    expect(patient.sync.state).toBe('conflict')
    expect(fhir.gender).toBe('other')
    expect(fhir.name).toEqual([{ use: 'official', family: 'Lindkvist', given: ['Maja'] }])
  })
})

describe('merge audit', () => {
  it('records a FHIR change as fhir-merge', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    const phone = { system: 'phone' as const, value: '+46 31 555 0101', use: 'mobile' as const }

    await hospitalEdit(t, 'patient', fhirIdOf(synced), (resource) => {
      resource.telecom = [phone]
    })
    const { patient, fhir, conflicts } = await settledPatient(t, synced.id)
    const rows = await mergeAuditOf(t, 'patient', synced.id)

    expect(patient.telecom).toEqual([phone])
    expect(patient.updatedBy).toBe('fhir-merge')
    expect(fhir.telecom).toEqual([phone])
    expect(conflicts).toHaveLength(0)
    expect(rows).toHaveLength(1)
    expect(rows[0]?.action).toBe('update')
    expect(rows[0]?.actor).toBe('fhir-merge')
    expect(rows[0]?.request_id).not.toBeNull()
    expect(rows[0]?.before).toMatchObject({ telecom: [] })
    expect(rows[0]?.after).toMatchObject({ telecom: [phone] })
  })
})
