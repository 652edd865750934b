import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuditRepository, type AuditRow } from '../src/audit/audit.repository.ts'
import type { Condition, ConditionFields } from '../src/conditions/condition.schemas.ts'
import type { Patient, PatientFields } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'

const SNOMED_CT = 'http://snomed.info/sct'
const EPILEPSY = { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' }
const MIGRAINE = { system: SNOMED_CT, code: '37796009', display: 'Migraine' }

// SQLSTATE of a plpgsql `raise exception` without its own code, as the audit_log trigger raises.
const RAISE_EXCEPTION = 'P0001'

const audit = new AuditRepository()

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('audit')
})

afterAll(async () => {
  await t.stop()
})

interface Problem {
  code: string
}

/** Returns the request id that the registry gave a request, from its X-Request-ID header. */
function requestIdOf(response: Response): string {
  const requestId = response.headers.get('X-Request-ID')
  expect(requestId).toBeTruthy()
  return requestId ?? ''
}

function ifMatch(version: number): Record<string, string> {
  return { 'If-Match': `"${version}"` }
}

function patientFieldsOf(patient: Patient): PatientFields {
  return {
    names: patient.names,
    birthDate: patient.birthDate,
    gender: patient.gender,
    identifiers: patient.identifiers,
    telecom: patient.telecom,
    addresses: patient.addresses,
    deceased: patient.deceased,
  }
}

function conditionFieldsOf(condition: Condition): ConditionFields {
  return {
    code: condition.code,
    clinicalStatus: condition.clinicalStatus,
    verificationStatus: condition.verificationStatus,
    onset: condition.onset,
    abatement: condition.abatement,
    recordedDate: condition.recordedDate,
  }
}

/** Lists the rows of every source that one request wrote, oldest first. */
async function rowsOfRequest(requestId: string): Promise<AuditRow[]> {
  return t.registry.db
    .selectFrom('audit_log')
    .selectAll()
    .where('request_id', '=', requestId)
    .orderBy('id')
    .execute()
}

/** Lists the API-write rows of one entity, oldest first, without merge or steward rows. */
async function userRows(
  entityType: 'patient' | 'condition',
  entityId: string,
): Promise<AuditRow[]> {
  const rows = await audit.listByEntity(t.registry.db, entityType, entityId)
  return rows.filter((row) => row.source === 'user')
}

/** Reads the single row a request wrote and checks the fields that every API write shares. */
async function onlyRowOfRequest(requestId: string): Promise<AuditRow> {
  const rows = await rowsOfRequest(requestId)
  expect(rows).toHaveLength(1)
  const [row] = rows
  if (!row) throw new Error(`No audit row has request id ${requestId}`)
  expect(row.source).toBe('user')
  expect(row.actor).toBe(t.operatorId)
  return row
}

async function fieldChangeTimes(
  table: 'patients' | 'conditions',
  id: string,
): Promise<Record<string, string>> {
  const row = await t.registry.db
    .selectFrom(table)
    .select('field_changed_at')
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
  return row.field_changed_at
}

async function createPatient(
  body: Record<string, unknown>,
): Promise<{ patient: Patient; requestId: string }> {
  const response = await t.api('POST', '/patients', body)
  expect(response.status).toBe(201)
  return { patient: (await response.json()) as Patient, requestId: requestIdOf(response) }
}

async function createCondition(
  body: Record<string, unknown>,
): Promise<{ condition: Condition; requestId: string }> {
  const response = await t.api('POST', '/conditions', body)
  expect(response.status).toBe(201)
  return { condition: (await response.json()) as Condition, requestId: requestIdOf(response) }
}

async function writePatient(
  method: 'PUT' | 'PATCH',
  patient: Patient,
  body: Record<string, unknown>,
): Promise<{ patient: Patient; requestId: string }> {
  const response = await t.api(method, `/patients/${patient.id}`, body, ifMatch(patient.version))
  expect(response.status).toBe(200)
  return { patient: (await response.json()) as Patient, requestId: requestIdOf(response) }
}

async function writeCondition(
  method: 'PUT' | 'PATCH',
  condition: Condition,
  body: Record<string, unknown>,
): Promise<{ condition: Condition; requestId: string }> {
  const response = await t.api(
    method,
    `/conditions/${condition.id}`,
    body,
    ifMatch(condition.version),
  )
  expect(response.status).toBe(200)
  return { condition: (await response.json()) as Condition, requestId: requestIdOf(response) }
}

function epilepsyOf(patientId: string): Record<string, unknown> {
  return {
    patientId,
    code: { coding: [EPILEPSY] },
    clinicalStatus: 'active',
    verificationStatus: 'confirmed',
    onset: { dateTime: '2015-01' },
  }
}

describe('patient audit', () => {
  it('records a create with the stored fields', async () => {
    const { patient, requestId } = await createPatient({
      names: [{ family: 'Achterberg', given: ['Ilse'] }],
      birthDate: '1971-03',
      gender: 'female',
    })

    const row = await onlyRowOfRequest(requestId)

    expect(row.action).toBe('create')
    expect(row.entity_type).toBe('patient')
    expect(row.entity_id).toBe(patient.id)
    expect(row.before).toBeNull()
    expect(row.after).toEqual(patientFieldsOf(patient))
    expect(row.occurred_at.toISOString()).toBe(patient.updatedAt)
    expect(await userRows('patient', patient.id)).toHaveLength(1)
  })

  it('records the caller X-Request-ID', async () => {
    const response = await t.api(
      'POST',
      '/patients',
      { names: [{ family: 'Halvorsen' }] },
      { 'X-Request-ID': 'audit-caller-request-1' },
    )
    expect(response.status).toBe(201)
    const patient = (await response.json()) as Patient

    const row = await onlyRowOfRequest('audit-caller-request-1')

    expect(requestIdOf(response)).toBe('audit-caller-request-1')
    expect(row.entity_id).toBe(patient.id)
  })

  it('records a PUT with the fields before and after', async () => {
    const { patient: created } = await createPatient({
      names: [{ family: 'Brennan' }],
      gender: 'male',
    })

    const { patient: replaced, requestId } = await writePatient('PUT', created, {
      names: [{ family: 'Brennan', given: ['Cathal'] }],
      birthDate: '1958',
      gender: 'male',
    })
    const row = await onlyRowOfRequest(requestId)

    expect(replaced.version).toBe(created.version + 1)
    expect(row.action).toBe('update')
    expect(row.entity_id).toBe(created.id)
    expect(row.before).toEqual(patientFieldsOf(created))
    expect(row.after).toEqual(patientFieldsOf(replaced))
    expect(row.occurred_at.toISOString()).toBe(replaced.updatedAt)
    expect(await userRows('patient', created.id)).toHaveLength(2)
  })

  it('records a PATCH with the fields before and after', async () => {
    const { patient: created } = await createPatient({
      names: [{ family: 'Castellanos' }],
      gender: 'female',
    })

    const { patient: patched, requestId } = await writePatient('PATCH', created, {
      telecom: [{ system: 'phone', value: '555-0134' }],
    })
    const row = await onlyRowOfRequest(requestId)

    expect(row.action).toBe('update')
    expect(row.before).toEqual(patientFieldsOf(created))
    expect(row.after).toEqual(patientFieldsOf(patched))
    expect(row.after).toMatchObject({ telecom: [{ system: 'phone', value: '555-0134' }] })
    expect(await userRows('patient', created.id)).toHaveLength(2)
  })

  it('records nothing for a PATCH that changes nothing', async () => {
    const { patient: created } = await createPatient({
      names: [{ family: 'Dimitrov' }],
      gender: 'male',
    })

    const { patient: unchanged, requestId } = await writePatient('PATCH', created, {
      gender: 'male',
    })

    expect(unchanged.version).toBe(created.version)
    expect(await rowsOfRequest(requestId)).toHaveLength(0)
    expect(await userRows('patient', created.id)).toHaveLength(1)
  })

  it('records nothing for a write with a stale If-Match', async () => {
    const { patient: created } = await createPatient({ names: [{ family: 'Eriksen' }] })
    await writePatient('PATCH', created, { gender: 'other' })

    const patch = await t.api(
      'PATCH',
      `/patients/${created.id}`,
      { gender: 'female' },
      ifMatch(created.version),
    )
    const remove = await t.api(
      'DELETE',
      `/patients/${created.id}`,
      undefined,
      ifMatch(created.version),
    )

    expect(patch.status).toBe(412)
    expect(((await patch.json()) as Problem).code).toBe('VERSION_MISMATCH')
    expect(remove.status).toBe(412)
    expect(((await remove.json()) as Problem).code).toBe('VERSION_MISMATCH')
    expect(await rowsOfRequest(requestIdOf(patch))).toHaveLength(0)
    expect(await rowsOfRequest(requestIdOf(remove))).toHaveLength(0)
    expect(await userRows('patient', created.id)).toHaveLength(2)
  })

  it('records a delete and one for each live condition', async () => {
    const { patient } = await createPatient({ names: [{ family: 'Fonseca' }], gender: 'male' })
    const { condition: first } = await createCondition(epilepsyOf(patient.id))
    const { condition: second } = await createCondition({
      patientId: patient.id,
      code: { coding: [MIGRAINE] },
    })
    const { condition: deletedBefore } = await createCondition(epilepsyOf(patient.id))
    const earlier = await t.api(
      'DELETE',
      `/conditions/${deletedBefore.id}`,
      undefined,
      ifMatch(deletedBefore.version),
    )
    expect(earlier.status).toBe(204)

    const response = await t.api(
      'DELETE',
      `/patients/${patient.id}`,
      undefined,
      ifMatch(patient.version),
    )
    expect(response.status).toBe(204)
    const rows = await rowsOfRequest(requestIdOf(response))
    const rowOf = (entityId: string) => rows.find((row) => row.entity_id === entityId)

    expect(rows).toHaveLength(3)
    for (const row of rows) {
      expect(row.source).toBe('user')
      expect(row.actor).toBe(t.operatorId)
      expect(row.action).toBe('delete')
      expect(row.after).toBeNull()
    }
    expect(rowOf(patient.id)?.entity_type).toBe('patient')
    expect(rowOf(patient.id)?.before).toEqual(patientFieldsOf(patient))
    expect(rowOf(first.id)?.entity_type).toBe('condition')
    expect(rowOf(first.id)?.before).toEqual(conditionFieldsOf(first))
    expect(rowOf(second.id)?.entity_type).toBe('condition')
    expect(rowOf(second.id)?.before).toEqual(conditionFieldsOf(second))
    expect(rowOf(deletedBefore.id)).toBeUndefined()
    expect(await userRows('condition', deletedBefore.id)).toHaveLength(2)
  })
})

describe('condition audit', () => {
  it('records a create with the stored fields', async () => {
    const { patient } = await createPatient({ names: [{ family: 'Gallagher' }] })

    const { condition, requestId } = await createCondition(epilepsyOf(patient.id))
    const row = await onlyRowOfRequest(requestId)

    expect(row.action).toBe('create')
    expect(row.entity_type).toBe('condition')
    expect(row.entity_id).toBe(condition.id)
    expect(row.before).toBeNull()
    expect(row.after).toEqual(conditionFieldsOf(condition))
    expect(row.occurred_at.toISOString()).toBe(condition.updatedAt)
  })

  it('records a PUT with the fields before and after', async () => {
    const { patient } = await createPatient({ names: [{ family: 'Hakimi' }] })
    const { condition: created } = await createCondition(epilepsyOf(patient.id))

    const { condition: replaced, requestId } = await writeCondition('PUT', created, {
      code: { coding: [MIGRAINE] },
      clinicalStatus: 'resolved',
      verificationStatus: 'confirmed',
      abatement: { dateTime: '2021-06' },
    })
    const row = await onlyRowOfRequest(requestId)

    expect(row.action).toBe('update')
    expect(row.entity_id).toBe(created.id)
    expect(row.before).toEqual(conditionFieldsOf(created))
    expect(row.after).toEqual(conditionFieldsOf(replaced))
    expect(row.occurred_at.toISOString()).toBe(replaced.updatedAt)
    expect(await userRows('condition', created.id)).toHaveLength(2)
  })

  it('records a PATCH with the fields before and after', async () => {
    const { patient } = await createPatient({ names: [{ family: 'Ivanova' }] })
    const { condition: created } = await createCondition(epilepsyOf(patient.id))

    const { condition: patched, requestId } = await writeCondition('PATCH', created, {
      recordedDate: '2015-02-03',
    })
    const row = await onlyRowOfRequest(requestId)

    expect(row.action).toBe('update')
    expect(row.before).toEqual(conditionFieldsOf(created))
    expect(row.after).toEqual(conditionFieldsOf(patched))
    expect(row.after).toMatchObject({ recordedDate: '2015-02-03' })
    expect(await userRows('condition', created.id)).toHaveLength(2)
  })

  it('records nothing for a PATCH that changes nothing', async () => {
    const { patient } = await createPatient({ names: [{ family: 'Jovanovic' }] })
    const { condition: created } = await createCondition(epilepsyOf(patient.id))

    const { condition: unchanged, requestId } = await writeCondition('PATCH', created, {
      clinicalStatus: 'active',
    })

    expect(unchanged.version).toBe(created.version)
    expect(await rowsOfRequest(requestId)).toHaveLength(0)
    expect(await userRows('condition', created.id)).toHaveLength(1)
  })

  it('records nothing for a write with a stale If-Match', async () => {
    const { patient } = await createPatient({ names: [{ family: 'Kowalczyk' }] })
    const { condition: created } = await createCondition(epilepsyOf(patient.id))
    await writeCondition('PATCH', created, { verificationStatus: 'provisional' })

    const put = await t.api(
      'PUT',
      `/conditions/${created.id}`,
      { code: { coding: [MIGRAINE] } },
      ifMatch(created.version),
    )
    const remove = await t.api(
      'DELETE',
      `/conditions/${created.id}`,
      undefined,
      ifMatch(created.version),
    )

    expect(put.status).toBe(412)
    expect(((await put.json()) as Problem).code).toBe('VERSION_MISMATCH')
    expect(remove.status).toBe(412)
    expect(((await remove.json()) as Problem).code).toBe('VERSION_MISMATCH')
    expect(await rowsOfRequest(requestIdOf(put))).toHaveLength(0)
    expect(await rowsOfRequest(requestIdOf(remove))).toHaveLength(0)
    expect(await userRows('condition', created.id)).toHaveLength(2)
  })

  it('records a delete with the fields before', async () => {
    const { patient } = await createPatient({ names: [{ family: 'Lindgren' }] })
    const { condition } = await createCondition(epilepsyOf(patient.id))

    const response = await t.api(
      'DELETE',
      `/conditions/${condition.id}`,
      undefined,
      ifMatch(condition.version),
    )
    expect(response.status).toBe(204)
    const row = await onlyRowOfRequest(requestIdOf(response))

    expect(row.action).toBe('delete')
    expect(row.entity_type).toBe('condition')
    expect(row.entity_id).toBe(condition.id)
    expect(row.before).toEqual(conditionFieldsOf(condition))
    expect(row.after).toBeNull()
    expect(await userRows('condition', condition.id)).toHaveLength(2)
    expect(await userRows('patient', patient.id)).toHaveLength(1)
  })
})

describe('audit_log', () => {
  it('rejects UPDATE and DELETE', async () => {
    const { patient, requestId } = await createPatient({ names: [{ family: 'Moreau' }] })
    const stored = await onlyRowOfRequest(requestId)

    await expect(
      t.registry.db
        .updateTable('audit_log')
        .set({ actor: 'someone-else' })
        .where('id', '=', stored.id)
        .execute(),
    ).rejects.toMatchObject({ code: RAISE_EXCEPTION })
    await expect(
      t.registry.db.deleteFrom('audit_log').where('id', '=', stored.id).execute(),
    ).rejects.toMatchObject({ code: RAISE_EXCEPTION })
    expect(await userRows('patient', patient.id)).toEqual([stored])
  })

  it('rejects TRUNCATE', async () => {
    const { patient, requestId } = await createPatient({ names: [{ family: 'Achterberg' }] })
    const stored = await onlyRowOfRequest(requestId)

    await expect(sql`truncate audit_log`.execute(t.registry.db)).rejects.toMatchObject({
      code: RAISE_EXCEPTION,
    })
    expect(await userRows('patient', patient.id)).toEqual([stored])
  })
})

describe('field change times', () => {
  it('stamps exactly the patient fields an update changed', async () => {
    const { patient: created } = await createPatient({
      names: [{ family: 'Nakamura' }],
      birthDate: '1990',
      gender: 'male',
    })
    const onCreate = await fieldChangeTimes('patients', created.id)

    const { patient: patched } = await writePatient('PATCH', created, { gender: 'other' })
    const afterPatch = await fieldChangeTimes('patients', created.id)
    const { patient: replaced } = await writePatient('PUT', patched, {
      names: [{ family: 'Nakamura', given: ['Ren'] }],
      birthDate: '1990-07',
      gender: 'other',
    })
    const afterPut = await fieldChangeTimes('patients', created.id)

    expect(onCreate).toEqual({})
    expect(afterPatch).toEqual({ gender: patched.updatedAt })
    expect(afterPut).toEqual({
      gender: patched.updatedAt,
      names: replaced.updatedAt,
      birthDate: replaced.updatedAt,
    })
  })

  it('stamps exactly the condition fields an update changed', async () => {
    const { patient } = await createPatient({ names: [{ family: 'Okonkwo' }] })
    const { condition: created } = await createCondition(epilepsyOf(patient.id))
    const onCreate = await fieldChangeTimes('conditions', created.id)

    const { condition: patched } = await writeCondition('PATCH', created, {
      clinicalStatus: 'remission',
      abatement: { dateTime: '2022-09' },
      onset: { dateTime: '2015-01' },
    })
    const afterPatch = await fieldChangeTimes('conditions', created.id)

    expect(onCreate).toEqual({})
    expect(afterPatch).toEqual({
      clinicalStatus: patched.updatedAt,
      abatement: patched.updatedAt,
    })
  })
})
