import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConditionFields } from '../src/conditions/condition.schemas.ts'
import type { PatientFields } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'
import {
  HOSPITAL_MRN_SYSTEM,
  MULTIPLE_SCLEROSIS,
  MULTIPLE_SCLEROSIS_ICD,
  clash,
  conditionInput,
  conflictsOf,
  createSynced,
  fhirIdOf,
  getEntity,
  mergeAuditOf,
  patientInput,
  readFhir,
  waitForSettled,
} from './merge-fixtures.ts'

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('merge_lists')
})

afterAll(async () => {
  await t.stop()
})

type Telecom = PatientFields['telecom'][number]

const HOME_PHONE: Telecom = { system: 'phone', value: '+46 8 555 0100', use: 'home' }
const WORK_PHONE: Telecom = { system: 'phone', value: '+46 8 555 0200', use: 'work' }

describe('identifiers', () => {
  it('keeps an identifier added on each side', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    const own = synced.identifiers
    const mrn = { use: 'usual' as const, system: HOSPITAL_MRN_SYSTEM, value: 'MRN-1001' }
    const nationalId = { system: 'urn:oid:1.2.752.129.2.1.3.1', value: '19700101-1234' }

    await clash(
      t,
      'patient',
      synced,
      (resource) => {
        resource.identifier = [...(resource.identifier ?? []), mrn]
      },
      { identifiers: [nationalId] },
    )
    await waitForSettled(t, 'patient', synced.id)
    const patient = await getEntity(t, 'patient', synced.id)
    const fhir = await readFhir(t, 'patient', fhirIdOf(patient))

    expect(patient.identifiers).toEqual([nationalId, mrn, ...own])
    expect(fhir.identifier).toEqual([nationalId, mrn, ...own])
    expect(patient.sync.state).toBe('synced')
    expect(await conflictsOf(t, 'patient', synced.id)).toHaveLength(0)
  })
})

describe('names', () => {
  it('keeps an official name and a nickname', async () => {
    const synced = await createSynced(
      t,
      'patient',
      patientInput({ names: [{ use: 'official', family: 'Eriksson', given: ['Karin'] }] }),
    )
    const official = { use: 'official' as const, family: 'Eriksdotter', given: ['Karin'] }
    const nickname = { use: 'nickname' as const, given: ['Kajsa'] }

    await clash(
      t,
      'patient',
      synced,
      (resource) => {
        resource.name = [...(resource.name ?? []), nickname]
      },
      { names: [official] },
    )
    await waitForSettled(t, 'patient', synced.id)
    const patient = await getEntity(t, 'patient', synced.id)
    const fhir = await readFhir(t, 'patient', fhirIdOf(patient))

    expect(patient.names).toEqual([official, nickname])
    expect(fhir.name).toEqual([official, nickname])
    expect(patient.sync.state).toBe('synced')
    expect(await conflictsOf(t, 'patient', synced.id)).toHaveLength(0)
  })
})

describe('telecom', () => {
  it('keeps a phone added on each side', async () => {
    const synced = await createSynced(t, 'patient', patientInput())

    await clash(
      t,
      'patient',
      synced,
      (resource) => {
        resource.telecom = [WORK_PHONE]
      },
      { telecom: [HOME_PHONE] },
    )
    await waitForSettled(t, 'patient', synced.id)
    const patient = await getEntity(t, 'patient', synced.id)
    const fhir = await readFhir(t, 'patient', fhirIdOf(patient))

    expect(patient.telecom).toEqual([HOME_PHONE, WORK_PHONE])
    expect(fhir.telecom).toEqual([HOME_PHONE, WORK_PHONE])
    expect(patient.sync.state).toBe('synced')
    expect(await conflictsOf(t, 'patient', synced.id)).toHaveLength(0)
  })

  it('opens a conflict on the one phone both sides change', async () => {
    const synced = await createSynced(
      t,
      'patient',
      patientInput({ telecom: [HOME_PHONE, WORK_PHONE] }),
    )
    const homeAsMobile = { ...HOME_PHONE, use: 'mobile' as const }
    const homeAsOld = { ...HOME_PHONE, use: 'old' as const }
    const workRanked = { ...WORK_PHONE, rank: 1 }

    // Both change the use of the home phone; only the hospital touches the work phone.
    await clash(
      t,
      'patient',
      synced,
      (resource) => {
        resource.telecom = [homeAsOld, workRanked]
      },
      { telecom: [homeAsMobile, WORK_PHONE] },
    )
    await waitForSettled(t, 'patient', synced.id)
    const patient = await getEntity(t, 'patient', synced.id)
    const fhir = await readFhir(t, 'patient', fhirIdOf(patient))
    const conflicts = await conflictsOf(t, 'patient', synced.id)

    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({
      field_path: 'telecom',
      item_key: `phone|${HOME_PHONE.value ?? ''}`,
      status: 'open',
      base_value: HOME_PHONE,
      registry_value: homeAsMobile,
      fhir_value: homeAsOld,
    })
    expect(patient.telecom).toEqual([homeAsMobile, workRanked])
    expect(patient.sync.state).toBe('conflict')
    expect(fhir.telecom).toEqual([homeAsOld, workRanked])
  })
})

describe('addresses', () => {
  it('keeps a home and a work address', async () => {
    const home = { use: 'home' as const, line: ['Storgatan 1'], city: 'Uppsala', country: 'SE' }
    const synced = await createSynced(t, 'patient', patientInput({ addresses: [home] }))
    const movedHome = { ...home, line: ['Kungsgatan 7'], city: 'Stockholm' }
    const work = { use: 'work' as const, line: ['Sjukhusvägen 2'], city: 'Uppsala', country: 'SE' }

    await clash(
      t,
      'patient',
      synced,
      (resource) => {
        resource.address = [...(resource.address ?? []), work]
      },
      { addresses: [movedHome] },
    )
    await waitForSettled(t, 'patient', synced.id)
    const patient = await getEntity(t, 'patient', synced.id)
    const fhir = await readFhir(t, 'patient', fhirIdOf(patient))

    expect(patient.addresses).toEqual([movedHome, work])
    expect(fhir.address).toEqual([movedHome, work])
    expect(patient.sync.state).toBe('synced')
    expect(await conflictsOf(t, 'patient', synced.id)).toHaveLength(0)
  })
})

describe('condition code', () => {
  it('keeps an added coding and a new display', async () => {
    const patient = await createSynced(t, 'patient', patientInput())
    const synced = await createSynced(t, 'condition', conditionInput(patient.id))
    const renamed = { ...MULTIPLE_SCLEROSIS, display: 'Disseminated sclerosis' }
    const code: ConditionFields['code'] = { coding: [renamed] }

    await clash(
      t,
      'condition',
      synced,
      (resource) => {
        resource.code = { coding: [...(resource.code?.coding ?? []), MULTIPLE_SCLEROSIS_ICD] }
      },
      { code },
    )
    await waitForSettled(t, 'condition', synced.id)
    const condition = await getEntity(t, 'condition', synced.id)
    const fhir = await readFhir(t, 'condition', fhirIdOf(condition))
    const updates = (await mergeAuditOf(t, 'condition', synced.id)).filter(
      (row) => row.action === 'update',
    )

    expect(condition.code).toEqual({ coding: [renamed, MULTIPLE_SCLEROSIS_ICD] })
    expect(fhir.code).toEqual({ coding: [renamed, MULTIPLE_SCLEROSIS_ICD] })
    expect(condition.sync.state).toBe('synced')
    expect(await conflictsOf(t, 'condition', synced.id)).toHaveLength(0)
    expect(updates).toHaveLength(1)
    expect(updates[0]?.before).toMatchObject({ code })
    expect(updates[0]?.after).toMatchObject({
      code: { coding: [renamed, MULTIPLE_SCLEROSIS_ICD] },
    })
  })
})
