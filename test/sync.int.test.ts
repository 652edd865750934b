import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Bundle, Patient as FhirPatient } from '@medplum/fhirtypes'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FhirRequestError } from '../src/fhir/fhir-client.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'

const SYNTHEA_DIR = join(
  process.env.SAMPLE_DATA_DIR ?? join(import.meta.dirname, '..', '..', 'shared', 'data'),
  'synthea',
)

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('sync')
})

afterAll(async () => {
  await t.stop()
})

async function createPatient(body: Record<string, unknown>): Promise<Patient> {
  const response = await t.api('POST', '/patients', body)
  expect(response.status).toBe(201)
  return (await response.json()) as Patient
}

async function getPatient(id: string): Promise<Patient> {
  const response = await t.api('GET', `/patients/${id}`)
  expect(response.status).toBe(200)
  return (await response.json()) as Patient
}

/** Waits until the registry row records the given FHIR version or a later one. */
async function waitForFhirVersion(id: string, atLeast: number): Promise<Patient> {
  return waitFor(`patient ${id} at FHIR version ${atLeast}`, async () => {
    const patient = await getPatient(id)
    return (patient.sync.fhirVersionId ?? 0) >= atLeast && patient.sync.state === 'synced'
      ? patient
      : undefined
  })
}

async function notificationOutcomes(
  fhirId: string,
): Promise<{ version_id: number | null; outcome: string | null }[]> {
  const result = await sql<{ version_id: number | null; outcome: string | null }>`
    select version_id, outcome from fhir_notifications where resource_id = ${fhirId} order by id`.execute(
    t.registry.db,
  )
  return result.rows
}

describe('registry to FHIR', () => {
  it('creates the patient in HAPI at version 1', async () => {
    const created = await createPatient({
      names: [{ use: 'official', family: 'Ordóñez', given: ['Bernardo', 'José'], prefix: ['Dr'] }],
      birthDate: '1980-05',
      gender: 'male',
      telecom: [{ system: 'email', value: 'b.ordonez@example.org' }],
    })

    const synced = await waitForFhirVersion(created.id, 1)
    const stored = await t.hospital.read<FhirPatient>('Patient', created.id)

    expect(synced.sync.fhirVersionId).toBe(1)
    expect(stored?.meta?.versionId).toBe('1')
    expect(stored?.name).toEqual([
      { use: 'official', family: 'Ordóñez', given: ['Bernardo', 'José'], prefix: ['Dr'] },
    ])
    expect(stored?.birthDate).toBe('1980-05')
    expect(stored?.identifier).toContainEqual({
      use: 'official',
      system: t.identifierSystem,
      value: created.id,
    })
  })

  it('pushes an update as version 2', async () => {
    const created = await createPatient({
      names: [{ family: 'Kowalski', given: ['Anna'] }],
      birthDate: '1975',
    })
    await waitForFhirVersion(created.id, 1)

    const response = await t.api(
      'PATCH',
      `/patients/${created.id}`,
      { birthDate: '1975-03-02', gender: 'female' },
      { 'If-Match': '"1"' },
    )
    expect(response.status).toBe(200)
    await waitForFhirVersion(created.id, 2)
    const stored = await t.hospital.read<FhirPatient>('Patient', created.id)

    expect(stored?.meta?.versionId).toBe('2')
    expect(stored?.birthDate).toBe('1975-03-02')
    expect(stored?.gender).toBe('female')
  })

  it('keeps the fields a PATCH does not name', async () => {
    const created = await createPatient({
      names: [{ family: 'Partial', given: ['Pat'] }],
      birthDate: '1966-07',
      identifiers: [{ system: 'urn:oid:2.16.840.1.113883.4.3.25', value: 'P-1' }],
      telecom: [{ system: 'phone', value: '+1 555 0100' }],
    })

    const response = await t.api(
      'PATCH',
      `/patients/${created.id}`,
      { gender: 'female' },
      { 'If-Match': '"1"' },
    )
    const patched = (await response.json()) as Patient

    expect(response.status).toBe(200)
    expect(patched.gender).toBe('female')
    expect(patched.names).toEqual(created.names)
    expect(patched.birthDate).toBe('1966-07')
    expect(patched.identifiers).toEqual(created.identifiers)
    expect(patched.telecom).toEqual(created.telecom)
  })

  it('rejects a stale If-Match with 412', async () => {
    const created = await createPatient({ names: [{ family: 'Stale' }] })
    const first = await t.api(
      'PATCH',
      `/patients/${created.id}`,
      { gender: 'other' },
      { 'If-Match': '"1"' },
    )
    expect(first.status).toBe(200)

    const stale = await t.api(
      'PATCH',
      `/patients/${created.id}`,
      { gender: 'male' },
      { 'If-Match': '"1"' },
    )
    const problem = (await stale.json()) as { code: string; currentVersion: number }

    expect(stale.status).toBe(412)
    expect(stale.headers.get('content-type')).toContain('application/problem+json')
    expect(problem.code).toBe('VERSION_MISMATCH')
    expect(problem.currentVersion).toBe(2)
    expect((await getPatient(created.id)).gender).toBe('other')
  })

  it('pages through every patient once', async () => {
    const family = `Pager${Date.now()}`
    const created: string[] = []
    for (let index = 0; index < 7; index++) {
      created.push((await createPatient({ names: [{ family, given: [`P${index}`] }] })).id)
    }

    const seen: string[] = []
    let cursor: string | null = null
    for (let page = 0; page < 10; page++) {
      const query: string = cursor ? `&cursor=${cursor}` : ''
      const response = await t.api('GET', `/patients?name=${family}&limit=2${query}`)
      const body = (await response.json()) as { items: Patient[]; nextCursor: string | null }
      seen.push(...body.items.map((patient) => patient.id))
      cursor = body.nextCursor
      if (cursor === null) break
    }

    expect(seen).toHaveLength(7)
    expect(new Set(seen)).toEqual(new Set(created))
  })

  it('keeps the version when a PATCH changes nothing', async () => {
    const created = await createPatient({ names: [{ family: 'Same' }], gender: 'male' })
    const response = await t.api(
      'PATCH',
      `/patients/${created.id}`,
      { gender: 'male' },
      { 'If-Match': '"1"' },
    )
    expect(response.status).toBe(200)
    expect(((await response.json()) as Patient).version).toBe(1)
  })

  it('rejects unknown fields', async () => {
    const response = await t.api('POST', '/patients', { birthdate: '1980' })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { code: string }).code).toBe('VALIDATION_FAILED')
  })

  it('rejects a NUL character with 400', async () => {
    const response = await t.api('POST', '/patients', { names: [{ family: 'A\u0000B' }] })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { code: string }).code).toBe('VALIDATION_FAILED')
  })

  it('rejects a body over 5 MiB with 413', async () => {
    const response = await t.api('POST', '/patients', {
      names: [{ family: 'x'.repeat(6_000_000) }],
    })
    expect(response.status).toBe(413)
    expect(((await response.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE')
  })

  it('requires If-Match on delete', async () => {
    const created = await createPatient({ names: [{ family: 'Keep' }] })
    const response = await t.api('DELETE', `/patients/${created.id}`)
    expect(response.status).toBe(428)
    expect((await getPatient(created.id)).version).toBe(1)
  })

  it('requires If-Match on update', async () => {
    const created = await createPatient({ names: [{ family: 'NoMatch' }] })
    const response = await t.api('PATCH', `/patients/${created.id}`, { gender: 'male' })
    expect(response.status).toBe(428)
    expect(((await response.json()) as { code: string }).code).toBe('IF_MATCH_REQUIRED')
  })

  it('deletes the FHIR resource when the registry deletes the patient', async () => {
    const created = await createPatient({ names: [{ family: 'Leaving' }] })
    await waitForFhirVersion(created.id, 1)

    const response = await t.api('DELETE', `/patients/${created.id}`, undefined, {
      'If-Match': '"1"',
    })
    expect(response.status).toBe(204)

    const gone = await waitFor('HAPI delete', async () =>
      (await t.hospital.read('Patient', created.id)) === null ? true : undefined,
    )
    expect(gone).toBe(true)
    expect((await t.api('GET', `/patients/${created.id}`)).status).toBe(404)
  })
})

describe('FHIR to registry', () => {
  it("merges an edit that kept the registry's source", async () => {
    // A client that reads a resource, edits it and writes it back unchanged otherwise keeps the
    // registry's meta.source. The registry's own FHIR client stamps that source on its writes.
    const created = await createPatient({ names: [{ family: 'Okafor', given: ['Ada'] }] })
    await waitForFhirVersion(created.id, 1)
    const current = await t.hospital.read<FhirPatient>('Patient', created.id)
    if (!current) throw new Error('patient missing in HAPI')

    await t.registry.fhir.update(
      { ...current, telecom: [{ system: 'phone', value: '+234 1 555 0100', use: 'work' }] },
      { ifMatchVersion: 1 },
    )

    const merged = await waitFor('the edit in the registry', async () => {
      const patient = await getPatient(created.id)
      return patient.telecom.length > 0 ? patient : undefined
    })
    expect(merged.telecom).toEqual([{ system: 'phone', value: '+234 1 555 0100', use: 'work' }])
    expect(merged.sync.state).toBe('synced')
  })

  it("raises a conflict against an edit that kept the registry's source", async () => {
    // The registry writes first, and the FHIR client then writes with If-Match on the version
    // both started from. In the rare run where the registry's push lands first, that write fails,
    // so the case starts over with a new patient.
    let patientId: string | undefined
    for (let attempt = 1; patientId === undefined; attempt++) {
      const created = await createPatient({ names: [{ family: 'Okafor', given: ['Obi'] }] })
      await waitForFhirVersion(created.id, 1)
      const current = await t.hospital.read<FhirPatient>('Patient', created.id)
      if (!current) throw new Error('patient missing in HAPI')
      const patched = await t.api(
        'PATCH',
        `/patients/${created.id}`,
        { birthDate: '1981-01' },
        { 'If-Match': '"1"' },
      )
      expect(patched.status).toBe(200)
      try {
        await t.registry.fhir.update({ ...current, birthDate: '1982-02' }, { ifMatchVersion: 1 })
        patientId = created.id
      } catch (error) {
        if (!(error instanceof FhirRequestError && error.isVersionConflict) || attempt === 3) {
          throw error
        }
      }
    }

    const conflict = await waitFor('the birthDate conflict', async () => {
      const response = await t.api('GET', `/conflicts?entityId=${patientId}&field=birthDate`)
      const { items } = (await response.json()) as { items: { fhirValue: unknown }[] }
      return items[0]
    })
    expect(conflict.fhirValue).toBe('1982-02')
  })

  it('merges a HAPI-side edit through the Subscription', async () => {
    const created = await createPatient({
      names: [{ family: 'Nguyen', given: ['Thi'] }],
      gender: 'female',
    })
    await waitForFhirVersion(created.id, 1)
    const current = await t.hospital.read<FhirPatient>('Patient', created.id)
    if (!current) throw new Error('patient missing in HAPI')

    await t.hospital.update({
      ...current,
      telecom: [{ system: 'phone', value: '+44 20 7946 0000', use: 'mobile' }],
    })

    const merged = await waitFor('the HAPI edit in the registry', async () => {
      const patient = await getPatient(created.id)
      return patient.telecom.length > 0 ? patient : undefined
    })
    expect(merged.telecom).toEqual([{ system: 'phone', value: '+44 20 7946 0000', use: 'mobile' }])
    expect(merged.updatedBy).toBe('fhir-merge')
    expect(merged.sync.fhirVersionId).toBe(2)
    expect(merged.names).toEqual([{ family: 'Nguyen', given: ['Thi'] }])
  })

  it('restores the registry identifier a HAPI edit drops', async () => {
    const created = await createPatient({ names: [{ family: 'Keeper' }] })
    await waitForFhirVersion(created.id, 1)
    const current = await t.hospital.read<FhirPatient>('Patient', created.id)
    if (!current) throw new Error('patient missing in HAPI')

    await t.hospital.update({
      ...current,
      identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN1' }],
    })

    const restored = await waitFor('the registry identifier back in HAPI', async () => {
      const stored = await t.hospital.read<FhirPatient>('Patient', created.id)
      const versionId = Number(stored?.meta?.versionId)
      return versionId >= 3 && stored ? stored : undefined
    })
    expect(restored.identifier).toContainEqual({ system: 'urn:oid:1.2.3', value: 'MRN1' })
    expect(restored.identifier).toContainEqual({
      use: 'official',
      system: t.identifierSystem,
      value: created.id,
    })
    const patient = await waitForFhirVersion(created.id, 3)
    expect(patient.identifiers).toHaveLength(2)
  })

  it('ignores a delivery whose body HAPI never stored', async () => {
    const created = await createPatient({ names: [{ family: 'Genuine' }], birthDate: '1971' })
    await waitForFhirVersion(created.id, 1)

    const forged = await fetch(`${t.url}/fhir-hook/Patient/${created.id}`, {
      method: 'PUT',
      headers: {
        Authorization: `Bearer ${t.registry.config.SUBSCRIPTION_SECRET}`,
        'Content-Type': 'application/fhir+json',
      },
      body: JSON.stringify({
        resourceType: 'Patient',
        id: created.id,
        meta: { versionId: '99' },
        name: [{ family: 'Injected' }],
      }),
    })
    expect(forged.status).toBe(204)

    const outcomes = await waitFor('the forged delivery processed', async () => {
      const rows = await notificationOutcomes(created.id)
      const forgedRow = rows.find((row) => row.version_id === 99)
      return forgedRow?.outcome ? rows : undefined
    })
    const after = await getPatient(created.id)

    expect(outcomes.find((row) => row.version_id === 99)?.outcome).toBe('stale')
    expect(after.names).toEqual([{ family: 'Genuine' }])
    expect(after.birthDate).toBe('1971')
    expect(after.sync.fhirVersionId).toBe(1)
  })

  it('does not take its own write back as a change', async () => {
    const created = await createPatient({ names: [{ family: 'Echo' }] })
    await waitForFhirVersion(created.id, 1)
    const patched = await t.api(
      'PATCH',
      `/patients/${created.id}`,
      { gender: 'male' },
      { 'If-Match': '"1"' },
    )
    expect(patched.status).toBe(200)
    await waitForFhirVersion(created.id, 2)

    const outcomes = await waitFor('both notifications processed', async () => {
      const rows = await notificationOutcomes(created.id)
      return rows.length >= 2 && rows.every((row) => row.outcome !== null) ? rows : undefined
    })
    const after = await getPatient(created.id)

    expect(outcomes.map((row) => row.outcome)).not.toContain('merged')
    expect(outcomes.every((row) => row.outcome === 'stale' || row.outcome === 'own-write')).toBe(
      true,
    )
    expect(after.version).toBe(2)
    expect(after.updatedBy).toBe(t.operatorId)
  })

  it('records a conflict when both sides change one field', async () => {
    const created = await createPatient({ names: [{ family: 'Clash' }], gender: 'female' })
    await waitForFhirVersion(created.id, 1)
    const current = await t.hospital.read<FhirPatient>('Patient', created.id)
    if (!current) throw new Error('patient missing in HAPI')

    await t.hospital.update({ ...current, gender: 'other' }, { ifMatchVersion: 1 })
    const patched = await t.api(
      'PATCH',
      `/patients/${created.id}`,
      { gender: 'male' },
      { 'If-Match': '"1"' },
    )
    expect(patched.status).toBe(200)

    const conflicts = await waitFor('a conflict row', async () => {
      const rows = await t.registry.db
        .selectFrom('conflicts')
        .selectAll()
        .where('entity_id', '=', created.id)
        .execute()
      return rows.length > 0 ? rows : undefined
    })
    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]?.field_path).toBe('gender')
    expect(conflicts[0]?.registry_value).toBe('male')
    expect(conflicts[0]?.fhir_value).toBe('other')
    expect(conflicts[0]?.base_value).toBe('female')
  })

  it('enrols the neurology patients of a Synthea load with all their conditions', async () => {
    const files = [
      'Brett_Gottlieb_0d2177ba-f67b-4f29-addb-91040de55388.json',
      'Bernardo_Ordóñez_ee5ce8e4-160e-4265-88ea-a2ebf4e2dfa9.json',
    ]
    const ids: string[] = []
    const conditionCounts: number[] = []
    for (const file of files) {
      const bundle = JSON.parse(await readFile(join(SYNTHEA_DIR, file), 'utf8')) as Bundle
      conditionCounts.push(
        bundle.entry?.filter((entry) => entry.resource?.resourceType === 'Condition').length ?? 0,
      )
      const response = await t.hospital.post<Bundle>('', bundle)
      const patientEntry = response.entry?.find((entry) =>
        entry.response?.location?.startsWith('Patient/'),
      )
      ids.push(patientEntry?.response?.location?.split('/')[1] ?? '')
    }
    const [brett, bernardo] = ids

    const enrolled = await waitFor('Brett enrolled with all his conditions', async () => {
      const list = (await (await t.api('GET', `/patients?fhirId=${brett ?? ''}`)).json()) as {
        items: Patient[]
      }
      const patient = list.items[0]
      if (!patient) return undefined
      const conditions = (await (
        await t.api('GET', `/conditions?patientId=${patient.id}&limit=200`)
      ).json()) as {
        items: { isNeurological: boolean; code: { coding: { code: string }[] } }[]
      }
      return conditions.items.length === conditionCounts[0]
        ? { patient, conditions: conditions.items }
        : undefined
    })
    const codes = enrolled.conditions.flatMap((condition) =>
      condition.code.coding.map((coding) => coding.code),
    )

    expect(enrolled.patient.source).toBe('external')
    expect(codes).toContain('84757009')
    expect(enrolled.conditions.some((condition) => !condition.isNeurological)).toBe(true)
    const withIdentifier = await waitFor('the registry identifier in HAPI', async () => {
      const stored = await t.hospital.read<FhirPatient>('Patient', brett ?? '')
      return stored?.identifier?.some((identifier) => identifier.system === t.identifierSystem)
        ? stored
        : undefined
    })
    expect(
      withIdentifier.identifier?.some(
        (identifier) => identifier.system === 'https://github.com/synthetichealth/synthea',
      ),
    ).toBe(true)
    const bernardoOutcomes = await waitFor('the notification of Bernardo processed', async () => {
      const rows = await notificationOutcomes(bernardo ?? '')
      return rows.length > 0 && rows.every((row) => row.outcome !== null) ? rows : undefined
    })
    expect(bernardoOutcomes.map((row) => row.outcome)).toContain('not-enrolled')
    const others = (await (await t.api('GET', `/patients?fhirId=${bernardo ?? ''}`)).json()) as {
      items: Patient[]
    }
    expect(others.items).toHaveLength(0)
  })
})
