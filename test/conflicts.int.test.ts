import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuditRepository } from '../src/audit/audit.repository.ts'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import { ConflictRepository, DELETION_FIELD } from '../src/conflicts/conflict.repository.ts'
import type { Conflict, ConflictDetail } from '../src/conflicts/conflict.schemas.ts'
import { FhirRequestError } from '../src/fhir/fhir-client.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'

const SNOMED_CT = 'http://snomed.info/sct'
const EPILEPSY = { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' }
const VERIFICATION_STATUS = 'http://terminology.hl7.org/CodeSystem/condition-ver-status'

interface Problem {
  code: string
  errors?: { path: string; message: string }[]
  registryValue?: unknown
  fhirValue?: unknown
  status: number
  conflictStatus?: string
}

interface Page {
  items: Conflict[]
  nextCursor: string | null
}

interface BulkResponse {
  results: { id: string; outcome: string; registryValue?: unknown; fhirValue?: unknown }[]
}

let t: TestRegistry
const audit = new AuditRepository()
const conflicts = new ConflictRepository()

beforeAll(async () => {
  // Telecom is last-writer-wins by default, so whether two quick edits clash depends on the
  // clock-skew window. As a manual field, its element conflicts do not depend on test speed.
  t = await startTestRegistry('conflicts', { MERGE_RULES: 'patient.telecom=manual' })
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

async function getCondition(id: string): Promise<Condition> {
  return json<Condition>(await t.api('GET', `/conditions/${id}`), 200)
}

async function getConflict(id: string): Promise<ConflictDetail> {
  return json<ConflictDetail>(await t.api('GET', `/conflicts/${id}`), 200)
}

async function listConflicts(query: string): Promise<Page> {
  return json<Page>(await t.api('GET', `/conflicts?${query}`), 200)
}

async function resolve(id: string, body: unknown): Promise<Response> {
  return t.api('POST', `/conflicts/${id}/resolve`, body)
}

async function waitUntilSynced<T extends Patient | Condition>(read: () => Promise<T>): Promise<T> {
  return waitFor('the row to be synced', async () => {
    const row = await read()
    return row.sync.state === 'synced' ? row : undefined
  })
}

async function createSyncedPatient(fields: Record<string, unknown> = {}): Promise<Patient> {
  const created = await json<Patient>(
    await t.api('POST', '/patients', {
      names: [{ use: 'official', family: 'Varga', given: ['Ilona'] }],
      birthDate: '1970-01-01',
      gender: 'female',
      ...fields,
    }),
    201,
  )
  return waitUntilSynced(() => getPatient(created.id))
}

async function readFhirPatient(id: string): Promise<FhirPatient> {
  const stored = await t.hospital.read<FhirPatient>('Patient', id)
  if (!stored) throw new Error(`Patient/${id} is missing in HAPI`)
  return stored
}

async function readFhirCondition(id: string): Promise<FhirCondition> {
  const stored = await t.hospital.read<FhirCondition>('Condition', id)
  if (!stored) throw new Error(`Condition/${id} is missing in HAPI`)
  return stored
}

/** Waits until the entity has an open conflict on `field` and returns it. */
async function waitForConflict(entityId: string, field: string): Promise<Conflict> {
  return waitFor(`an open ${field} conflict of ${entityId}`, async () => {
    const page = await listConflicts(`entityId=${entityId}&field=${encodeURIComponent(field)}`)
    return page.items[0]
  })
}

/**
 * Changes a patient in HAPI as a hospital would and, before HAPI's notification arrives, in the
 * registry too, so both changes share one base and the merge opens a conflict.
 */
/**
 * Makes both sides change one field of a synced resource. The registry writes first and the
 * hospital then writes with If-Match on the version both started from, so the registry's push
 * meets HAPI's newer version and merges. Had the hospital written first, its notification could
 * be merged before the registry's write, which would then be a plain edit. In the rare run where
 * the push reaches HAPI before the hospital's write, that write fails and the case starts over.
 */
async function changeOnBothSides<R extends FhirPatient | FhirCondition>(
  create: () => Promise<{ id: string; version: number }>,
  type: R['resourceType'],
  registryWrite: (id: string, version: number) => Promise<Response>,
  hospitalChange: Partial<R>,
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const row = await create()
    const current = await t.hospital.read<R>(type, row.id)
    if (!current) throw new Error(`${type}/${row.id} is missing in HAPI`)
    const patched = await registryWrite(row.id, row.version)
    expect(patched.status).toBe(200)
    try {
      await t.hospital.update<R>(
        { ...current, ...hospitalChange },
        { ifMatchVersion: Number(current.meta?.versionId) },
      )
      return row.id
    } catch (error) {
      if (!(error instanceof FhirRequestError && error.isVersionConflict) || attempt === 3) {
        throw error
      }
    }
  }
}

async function patientConflict(
  field: string,
  hospitalChange: Partial<FhirPatient>,
  registryChange: Record<string, unknown>,
  patientFields: Record<string, unknown> = {},
): Promise<{ patient: Patient; conflict: Conflict }> {
  let patient: Patient | undefined
  await changeOnBothSides<FhirPatient>(
    async () => (patient = await createSyncedPatient(patientFields)),
    'Patient',
    (id, version) =>
      t.api('PATCH', `/patients/${id}`, registryChange, { 'If-Match': `"${version}"` }),
    hospitalChange,
  )
  if (!patient) throw new Error('No patient was created')
  return { patient, conflict: await waitForConflict(patient.id, field) }
}

/** Opens a birthDate conflict: base 1970-01-01, FHIR 1971-02-02, registry 1972-03-03. */
async function birthDateConflict(): Promise<{ patient: Patient; conflict: Conflict }> {
  return patientConflict('birthDate', { birthDate: '1971-02-02' }, { birthDate: '1972-03-03' })
}

async function createSyncedCondition(): Promise<Condition> {
  const patient = await createSyncedPatient()
  const created = await json<Condition>(
    await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [EPILEPSY] },
      clinicalStatus: 'active',
      verificationStatus: 'provisional',
    }),
    201,
  )
  return waitUntilSynced(() => getCondition(created.id))
}

/** Opens a verificationStatus conflict: base provisional, FHIR confirmed, registry differential. */
async function verificationConflict(): Promise<{ condition: Condition; conflict: Conflict }> {
  let condition: Condition | undefined
  await changeOnBothSides<FhirCondition>(
    async () => (condition = await createSyncedCondition()),
    'Condition',
    (id, version) =>
      t.api(
        'PATCH',
        `/conditions/${id}`,
        { verificationStatus: 'differential' },
        { 'If-Match': `"${version}"` },
      ),
    { verificationStatus: { coding: [{ system: VERIFICATION_STATUS, code: 'confirmed' }] } },
  )
  if (!condition) throw new Error('No condition was created')
  return { condition, conflict: await waitForConflict(condition.id, 'verificationStatus') }
}

async function waitForFhirBirthDate(id: string, birthDate: string): Promise<FhirPatient> {
  return waitFor(`Patient/${id} with birth date ${birthDate}`, async () => {
    const stored = await readFhirPatient(id)
    return stored.birthDate === birthDate ? stored : undefined
  })
}

describe('conflict list', () => {
  let patientConflictRow: Conflict
  let conditionConflictRow: Conflict
  let later: Conflict

  beforeAll(async () => {
    patientConflictRow = (await birthDateConflict()).conflict
    conditionConflictRow = (await verificationConflict()).conflict
    later = (await birthDateConflict()).conflict
  })

  it('lists open conflicts oldest first', async () => {
    const page = await listConflicts('limit=200')
    const ids = page.items.map((conflict) => conflict.id)

    expect(ids).toContain(patientConflictRow.id)
    expect(ids.indexOf(patientConflictRow.id)).toBeLessThan(ids.indexOf(conditionConflictRow.id))
    expect(ids.indexOf(conditionConflictRow.id)).toBeLessThan(ids.indexOf(later.id))
    expect(page.items.every((conflict) => conflict.status === 'open')).toBe(true)
  })

  it('filters by entity type', async () => {
    const page = await listConflicts('entityType=condition&limit=200')
    const ids = page.items.map((conflict) => conflict.id)

    expect(ids).toContain(conditionConflictRow.id)
    expect(ids).not.toContain(patientConflictRow.id)
    expect(page.items.every((conflict) => conflict.entityType === 'condition')).toBe(true)
  })

  it('filters by entity id', async () => {
    const page = await listConflicts(`entityId=${patientConflictRow.entityId}`)

    expect(page.items.map((conflict) => conflict.id)).toEqual([patientConflictRow.id])
  })

  it('filters by field', async () => {
    const page = await listConflicts('field=verificationStatus&limit=200')
    const ids = page.items.map((conflict) => conflict.id)

    expect(ids).toContain(conditionConflictRow.id)
    expect(page.items.every((conflict) => conflict.field === 'verificationStatus')).toBe(true)
  })

  it('filters by status', async () => {
    const resolved = await listConflicts('status=resolved&limit=200')
    const dismissed = await listConflicts('status=dismissed&limit=200')

    expect(resolved.items.map((conflict) => conflict.id)).not.toContain(patientConflictRow.id)
    expect(resolved.items.every((conflict) => conflict.status === 'resolved')).toBe(true)
    expect(dismissed.items.every((conflict) => conflict.status === 'dismissed')).toBe(true)
  })

  it('filters by creation time', async () => {
    const from = encodeURIComponent(conditionConflictRow.createdAt)
    const to = encodeURIComponent(later.createdAt)
    const page = await listConflicts(`createdFrom=${from}&createdTo=${to}&limit=200`)
    const ids = page.items.map((conflict) => conflict.id)

    expect(ids).toContain(conditionConflictRow.id)
    expect(ids).not.toContain(patientConflictRow.id)
    expect(ids).not.toContain(later.id)
  })

  it('pages through every conflict once', async () => {
    const all = await listConflicts('limit=200')
    const seen: string[] = []
    let cursor: string | null = null
    for (let page = 0; page < 100; page++) {
      const query: string = cursor ? `&cursor=${cursor}` : ''
      const body = await listConflicts(`limit=1${query}`)
      expect(body.items.length).toBeLessThanOrEqual(1)
      seen.push(...body.items.map((conflict) => conflict.id))
      cursor = body.nextCursor
      if (cursor === null) break
    }

    expect(seen).toEqual(all.items.map((conflict) => conflict.id))
    expect(seen.length).toBeGreaterThanOrEqual(3)
  })

  it.each([
    ['an unknown status', 'status=closed'],
    ['an unknown entity type', 'entityType=encounter'],
    ['a malformed entity id', 'entityId=42'],
    ['a creation time without a zone', 'createdFrom=2026-01-01T00:00:00'],
    ['an empty time range', 'createdFrom=2026-02-01T00:00:00Z&createdTo=2026-01-01T00:00:00Z'],
    ['a forged cursor', 'cursor=bm90LWEtY3Vyc29y'],
  ])('rejects %s with 400', async (_case, query) => {
    const problem = await json<Problem>(await t.api('GET', `/conflicts?${query}`), 400)
    expect(problem.code).toBe('VALIDATION_FAILED')
  })
})

describe('conflict read', () => {
  it('shows both sides, the base and the current entity version', async () => {
    const { patient, conflict } = await birthDateConflict()
    const detail = await getConflict(conflict.id)
    const current = await getPatient(patient.id)

    expect(detail.entityType).toBe('patient')
    expect(detail.entityId).toBe(patient.id)
    expect(detail.field).toBe('birthDate')
    expect(detail.itemKey).toBeNull()
    expect(detail.status).toBe('open')
    expect(detail.baseValue).toBe('1970-01-01')
    expect(detail.registryValue).toBe('1972-03-03')
    expect(detail.fhirValue).toBe('1971-02-02')
    expect(detail.registryVersion).toBe(current.version)
    expect(detail.fhirVersionId).toBe(2)
    expect(detail.fhirUpdatedAt).not.toBeNull()
    expect(detail.resolution).toBeNull()
    expect(detail.entity).toEqual({
      version: current.version,
      deleted: false,
      syncState: 'conflict',
    })
  })

  it('answers 404 for an unknown id', async () => {
    const problem = await json<Problem>(
      await t.api('GET', `/conflicts/${crypto.randomUUID()}`),
      404,
    )
    expect(problem.code).toBe('NOT_FOUND')
  })

  it('answers 400 for a malformed id', async () => {
    const problem = await json<Problem>(await t.api('GET', '/conflicts/not-a-uuid'), 400)
    expect(problem.code).toBe('VALIDATION_FAILED')
  })
})

describe('conflict resolution', () => {
  it("takes the registry's value and pushes it to HAPI", async () => {
    const { patient, conflict } = await birthDateConflict()
    const before = await getPatient(patient.id)

    const resolved = await json<ConflictDetail>(
      await resolve(conflict.id, { choice: 'registry' }),
      200,
    )
    const after = await waitUntilSynced(() => getPatient(patient.id))
    const stored = await waitForFhirBirthDate(patient.id, '1972-03-03')

    expect(resolved.status).toBe('resolved')
    expect(resolved.resolution).toBe('registry')
    expect(resolved.resolvedBy).toBe(t.operatorId)
    expect(resolved.resolvedValue).toBe('1972-03-03')
    expect(resolved.resolvedAt).not.toBeNull()
    expect(resolved.entity?.version).toBe(before.version + 1)
    expect(after.birthDate).toBe('1972-03-03')
    expect(stored.birthDate).toBe('1972-03-03')
  })

  it("takes FHIR's value", async () => {
    const { patient, conflict } = await birthDateConflict()

    const resolved = await json<ConflictDetail>(await resolve(conflict.id, { choice: 'fhir' }), 200)
    const after = await waitUntilSynced(() => getPatient(patient.id))
    const stored = await readFhirPatient(patient.id)

    expect(resolved.resolution).toBe('fhir')
    expect(resolved.resolvedValue).toBe('1971-02-02')
    expect(after.birthDate).toBe('1971-02-02')
    expect(stored.birthDate).toBe('1971-02-02')
  })

  it('takes a supplied value and pushes it to HAPI', async () => {
    const { patient, conflict } = await birthDateConflict()

    const resolved = await json<ConflictDetail>(
      await resolve(conflict.id, { choice: 'value', value: '1971-02-03' }),
      200,
    )
    const stored = await waitForFhirBirthDate(patient.id, '1971-02-03')
    const after = await getPatient(patient.id)

    expect(resolved.resolution).toBe('value')
    expect(resolved.resolvedValue).toBe('1971-02-03')
    expect(after.birthDate).toBe('1971-02-03')
    expect(stored.birthDate).toBe('1971-02-03')
  })

  it('records the decision in the audit log', async () => {
    const { patient, conflict } = await birthDateConflict()
    await json<ConflictDetail>(
      await t.api(
        'POST',
        `/conflicts/${conflict.id}/resolve`,
        { choice: 'fhir' },
        {
          'X-Request-ID': 'steward-audit-1',
        },
      ),
      200,
    )

    const rows = await audit.listByEntity(t.registry.db, 'patient', patient.id)
    const decision = rows.find((row) => row.conflict_id === conflict.id)

    expect(decision?.source).toBe('steward')
    expect(decision?.action).toBe('resolve')
    expect(decision?.actor).toBe(t.operatorId)
    expect(decision?.request_id).toBe('steward-audit-1')
    expect((decision?.before as Patient).birthDate).toBe('1972-03-03')
    expect((decision?.after as Patient).birthDate).toBe('1971-02-02')
  })

  it('rejects a second resolution with 409', async () => {
    const { conflict } = await birthDateConflict()
    await json<ConflictDetail>(await resolve(conflict.id, { choice: 'registry' }), 200)

    const problem = await json<Problem>(await resolve(conflict.id, { choice: 'fhir' }), 409)

    expect(problem.code).toBe('CONFLICT_NOT_OPEN')
    expect(problem.status).toBe(409)
    expect(problem.conflictStatus).toBe('resolved')
  })

  it('answers 409 with the fresh values when the entity moved on', async () => {
    const { patient, conflict } = await birthDateConflict()
    const current = await getPatient(patient.id)
    const patched = await t.api(
      'PATCH',
      `/patients/${patient.id}`,
      { birthDate: '1973-04-04' },
      { 'If-Match': `"${current.version}"` },
    )
    expect(patched.status).toBe(200)

    const problem = await json<Problem>(await resolve(conflict.id, { choice: 'registry' }), 409)
    const refreshed = await getConflict(conflict.id)

    expect(problem.code).toBe('CONFLICT_STALE')
    expect(problem.registryValue).toBe('1973-04-04')
    expect(problem.fhirValue).toBe('1971-02-02')
    expect(refreshed.status).toBe('open')
    expect(refreshed.registryValue).toBe('1973-04-04')
    expect(refreshed.registryVersion).toBe(current.version + 1)

    const retried = await json<ConflictDetail>(
      await resolve(conflict.id, { choice: 'registry' }),
      200,
    )
    expect(retried.resolvedValue).toBe('1973-04-04')
    await waitForFhirBirthDate(patient.id, '1973-04-04')
  })

  it('rejects an invalid supplied value with 400', async () => {
    const { patient, conflict } = await birthDateConflict()

    const problem = await json<Problem>(
      await resolve(conflict.id, { choice: 'value', value: '1971-02-30' }),
      400,
    )
    const after = await getConflict(conflict.id)

    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['value'])
    expect(after.status).toBe('open')
    expect((await getPatient(patient.id)).birthDate).toBe('1972-03-03')
  })

  it.each([
    ['an unknown choice', { choice: 'both' }],
    ['a value choice without a value', { choice: 'value' }],
    ['an unknown member', { choice: 'fhir', value: '1971-02-02' }],
  ])('rejects %s with 400', async (_case, body) => {
    const problem = await json<Problem>(await resolve(crypto.randomUUID(), body), 400)
    expect(problem.code).toBe('VALIDATION_FAILED')
  })

  it('answers 404 for an unknown conflict', async () => {
    const problem = await json<Problem>(await resolve(crypto.randomUUID(), { choice: 'fhir' }), 404)
    expect(problem.code).toBe('NOT_FOUND')
  })
})

describe('element conflict resolution', () => {
  const PHONE = { system: 'phone' as const, value: '555-0100', use: 'home' as const }

  async function telecomConflict(): Promise<{ patient: Patient; conflict: Conflict }> {
    const patient = await createSyncedPatient({ telecom: [PHONE] })
    const current = await readFhirPatient(patient.id)
    await t.hospital.update<FhirPatient>({ ...current, telecom: [{ ...PHONE, use: 'work' }] })
    const patched = await t.api(
      'PATCH',
      `/patients/${patient.id}`,
      { telecom: [{ ...PHONE, use: 'mobile' }] },
      { 'If-Match': `"${patient.version}"` },
    )
    expect(patched.status).toBe(200)
    return { patient, conflict: await waitForConflict(patient.id, 'telecom') }
  }

  it('names the element by its natural key', async () => {
    const { conflict } = await telecomConflict()

    expect(conflict.itemKey).toBe('phone|555-0100')
    expect(conflict.registryValue).toEqual({ ...PHONE, use: 'mobile' })
    expect(conflict.fhirValue).toEqual({ ...PHONE, use: 'work' })
  })

  it('rejects an element with another key with 400', async () => {
    const { conflict } = await telecomConflict()

    const problem = await json<Problem>(
      await resolve(conflict.id, { choice: 'value', value: { ...PHONE, value: '555-0199' } }),
      400,
    )

    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['value'])
    expect((await getConflict(conflict.id)).status).toBe('open')
  })

  it('rejects an element that breaks its schema with 400', async () => {
    const { conflict } = await telecomConflict()

    const problem = await json<Problem>(
      await resolve(conflict.id, { choice: 'value', value: { ...PHONE, use: 'pigeon' } }),
      400,
    )

    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['value.use'])
  })

  it('replaces the element with a supplied one', async () => {
    const { patient, conflict } = await telecomConflict()

    await json<ConflictDetail>(
      await resolve(conflict.id, { choice: 'value', value: { ...PHONE, use: 'temp' } }),
      200,
    )
    const stored = await waitFor('the supplied telecom in HAPI', async () => {
      const resource = await readFhirPatient(patient.id)
      return resource.telecom?.[0]?.use === 'temp' ? resource : undefined
    })

    expect((await getPatient(patient.id)).telecom).toEqual([{ ...PHONE, use: 'temp' }])
    expect(stored.telecom).toEqual([{ ...PHONE, use: 'temp' }])
  })
})

describe('condition conflict resolution', () => {
  it('rejects a value that breaks the status invariants with 400', async () => {
    const { conflict } = await verificationConflict()

    // con-5: an entry made in error has no clinical status, and this condition is active.
    const problem = await json<Problem>(
      await resolve(conflict.id, { choice: 'value', value: 'entered-in-error' }),
      400,
    )

    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['clinicalStatus'])
  })

  it('takes a supplied status and pushes it to HAPI', async () => {
    const { condition, conflict } = await verificationConflict()

    await json<ConflictDetail>(
      await resolve(conflict.id, { choice: 'value', value: 'refuted' }),
      200,
    )
    const stored = await waitFor('the refuted condition in HAPI', async () => {
      const resource = await readFhirCondition(condition.id)
      return resource.verificationStatus?.coding?.[0]?.code === 'refuted' ? resource : undefined
    })

    expect((await getCondition(condition.id)).verificationStatus).toBe('refuted')
    expect(stored.verificationStatus?.coding).toEqual([
      { system: VERIFICATION_STATUS, code: 'refuted' },
    ])
  })
})

describe('conflict dismissal', () => {
  it("closes the conflict and pushes the registry's value", async () => {
    const { patient, conflict } = await birthDateConflict()

    const dismissed = await json<ConflictDetail>(
      await t.api('POST', `/conflicts/${conflict.id}/dismiss`, { reason: 'Checked the record' }),
      200,
    )
    await waitForFhirBirthDate(patient.id, '1972-03-03')
    const rows = await audit.listByEntity(t.registry.db, 'patient', patient.id)

    expect(dismissed.status).toBe('dismissed')
    expect(dismissed.resolution).toBeNull()
    expect(dismissed.resolutionReason).toBe('Checked the record')
    expect(dismissed.resolvedBy).toBe(t.operatorId)
    expect(dismissed.resolvedAt).not.toBeNull()
    expect((await getPatient(patient.id)).birthDate).toBe('1972-03-03')
    expect(rows.find((row) => row.conflict_id === conflict.id)?.action).toBe('dismiss')
  })

  it('rejects a blank reason with 400', async () => {
    const { conflict } = await birthDateConflict()

    const problem = await json<Problem>(
      await t.api('POST', `/conflicts/${conflict.id}/dismiss`, { reason: '   ' }),
      400,
    )

    expect(problem.code).toBe('VALIDATION_FAILED')
    expect((await getConflict(conflict.id)).status).toBe('open')
  })

  it('rejects a dismissal of a closed conflict with 409', async () => {
    const { conflict } = await birthDateConflict()
    await json<ConflictDetail>(await resolve(conflict.id, { choice: 'fhir' }), 200)

    const problem = await json<Problem>(
      await t.api('POST', `/conflicts/${conflict.id}/dismiss`, { reason: 'Too late' }),
      409,
    )

    expect(problem.code).toBe('CONFLICT_NOT_OPEN')
  })
})

describe('bulk resolution', () => {
  it('resolves each conflict and reports unknown ones', async () => {
    const first = await birthDateConflict()
    const second = await birthDateConflict()
    const unknown = crypto.randomUUID()

    const body = await json<BulkResponse>(
      await t.api('POST', '/conflicts/resolve', {
        conflictIds: [first.conflict.id, second.conflict.id, unknown],
        choice: 'fhir',
      }),
      200,
    )

    expect(body.results).toEqual([
      { id: first.conflict.id, outcome: 'resolved' },
      { id: second.conflict.id, outcome: 'resolved' },
      { id: unknown, outcome: 'not-found' },
    ])
    expect((await getPatient(first.patient.id)).birthDate).toBe('1971-02-02')
    expect((await getPatient(second.patient.id)).birthDate).toBe('1971-02-02')
  })

  it('reports closed and stale conflicts', async () => {
    const closed = await birthDateConflict()
    await json<ConflictDetail>(await resolve(closed.conflict.id, { choice: 'fhir' }), 200)
    const stale = await birthDateConflict()
    const current = await getPatient(stale.patient.id)
    const patched = await t.api(
      'PATCH',
      `/patients/${stale.patient.id}`,
      { birthDate: '1974-05-05' },
      { 'If-Match': `"${current.version}"` },
    )
    expect(patched.status).toBe(200)

    const body = await json<BulkResponse>(
      await t.api('POST', '/conflicts/resolve', {
        conflictIds: [closed.conflict.id, stale.conflict.id],
        choice: 'registry',
      }),
      200,
    )

    expect(body.results).toEqual([
      { id: closed.conflict.id, outcome: 'not-open', status: 'resolved' },
      {
        id: stale.conflict.id,
        outcome: 'stale',
        registryValue: '1974-05-05',
        fhirValue: '1971-02-02',
      },
    ])
  })

  it('rejects conflicts of different fields with 400', async () => {
    const birthDate = await birthDateConflict()
    const status = await verificationConflict()

    const problem = await json<Problem>(
      await t.api('POST', '/conflicts/resolve', {
        conflictIds: [birthDate.conflict.id, status.conflict.id],
        choice: 'registry',
      }),
      400,
    )

    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['conflictIds'])
    expect((await getConflict(birthDate.conflict.id)).status).toBe('open')
    expect((await getConflict(status.conflict.id)).status).toBe('open')
  })

  it.each([
    ['no ids', { conflictIds: [], choice: 'registry' }],
    ['a supplied value', { conflictIds: [crypto.randomUUID()], choice: 'value' }],
    [
      'more than 500 ids',
      { conflictIds: Array.from({ length: 501 }, () => crypto.randomUUID()), choice: 'fhir' },
    ],
  ])('rejects %s with 400', async (_case, body) => {
    const problem = await json<Problem>(await t.api('POST', '/conflicts/resolve', body), 400)
    expect(problem.code).toBe('VALIDATION_FAILED')
  })
})

describe('FHIR delete against a registry edit', () => {
  /** Deletes the patient in HAPI and, before the notification arrives, edits it in the registry. */
  async function fhirDeleteConflict(): Promise<{ patient: Patient; conflict: Conflict }> {
    const patient = await createSyncedPatient()
    await t.hospital.delete('Patient', patient.id)
    const patched = await t.api(
      'PATCH',
      `/patients/${patient.id}`,
      { gender: 'other' },
      { 'If-Match': `"${patient.version}"` },
    )
    expect(patched.status).toBe(200)
    const conflict = await waitForConflict(patient.id, '(deleted)')
    // The merge of HAPI's delete notification must not run between a resolution and its push,
    // where it would find the resource still gone and raise the conflict again.
    await waitFor('the merge of the delete notification', async () => {
      const merged = await t.registry.db
        .selectFrom('fhir_notifications')
        .select('id')
        .where('resource_id', '=', patient.id)
        .where('outcome', '=', 'delete-conflict')
        .executeTakeFirst()
      return merged
    })
    return { patient, conflict }
  }

  it("records the registry's fields against FHIR's delete", async () => {
    const { conflict } = await fhirDeleteConflict()

    expect((conflict.registryValue as Patient).gender).toBe('other')
    expect(conflict.fhirValue).toBeNull()
  })

  it('recreates the resource in HAPI when the registry wins', async () => {
    const { patient, conflict } = await fhirDeleteConflict()

    await json<ConflictDetail>(await resolve(conflict.id, { choice: 'registry' }), 200)
    const stored = await waitFor('the recreated patient in HAPI', async () => {
      return (await t.hospital.read<FhirPatient>('Patient', patient.id)) ?? undefined
    })
    const after = await waitUntilSynced(() => getPatient(patient.id))

    expect(stored.gender).toBe('other')
    expect(after.gender).toBe('other')
  })

  it('deletes the row when FHIR wins', async () => {
    const { patient, conflict } = await fhirDeleteConflict()

    const resolved = await json<ConflictDetail>(await resolve(conflict.id, { choice: 'fhir' }), 200)
    const problem = await json<Problem>(await t.api('GET', `/patients/${patient.id}`), 404)

    expect(resolved.entity).toEqual({
      version: patient.version + 2,
      deleted: true,
      syncState: 'synced',
    })
    expect(problem.code).toBe('NOT_FOUND')
    expect(await t.hospital.read<FhirPatient>('Patient', patient.id)).toBeNull()
  })

  it('rejects a supplied value with 400', async () => {
    const { conflict } = await fhirDeleteConflict()

    const problem = await json<Problem>(
      await resolve(conflict.id, { choice: 'value', value: null }),
      400,
    )

    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['choice'])
  })

  it('rejects a dismissal with 409', async () => {
    const { conflict } = await fhirDeleteConflict()

    const problem = await json<Problem>(
      await t.api('POST', `/conflicts/${conflict.id}/dismiss`, { reason: 'Not sure' }),
      409,
    )

    expect(problem.code).toBe('CONFLICT_NOT_DISMISSIBLE')
  })
})

describe('conflicts of deleted entities', () => {
  it('rejects resolving a field of a deleted patient with 409', async () => {
    const { patient, conflict } = await birthDateConflict()
    const current = await getPatient(patient.id)
    const deleted = await t.api('DELETE', `/patients/${patient.id}`, undefined, {
      'If-Match': `"${current.version}"`,
    })
    expect(deleted.status).toBe(204)

    const problem = await json<Problem>(await resolve(conflict.id, { choice: 'registry' }), 409)
    const dismissed = await json<ConflictDetail>(
      await t.api('POST', `/conflicts/${conflict.id}/dismiss`, { reason: 'Patient deleted' }),
      200,
    )

    expect(problem.code).toBe('ENTITY_DELETED')
    expect(dismissed.status).toBe('dismissed')
    expect(dismissed.entity?.deleted).toBe(true)
  })

  it('rejects restoring a condition of a deleted patient with 409', async () => {
    // HAPI deletes a patient and its conditions in one transaction, so the merge cannot raise
    // this conflict on its own; it is recorded directly.
    const condition = await createSyncedCondition()
    const patient = await getPatient(condition.patientId)
    const deleted = await t.api('DELETE', `/patients/${patient.id}`, undefined, {
      'If-Match': `"${patient.version}"`,
    })
    expect(deleted.status).toBe(204)
    const fields = {
      code: condition.code,
      clinicalStatus: condition.clinicalStatus,
      verificationStatus: condition.verificationStatus,
      onset: condition.onset,
      abatement: condition.abatement,
      recordedDate: condition.recordedDate,
    }
    const recorded = await conflicts.record(
      t.registry.db,
      {
        entityType: 'condition',
        entityId: condition.id,
        fieldPath: DELETION_FIELD,
        itemKey: null,
        baseValue: fields,
        registryValue: null,
        fhirValue: { ...fields, verificationStatus: 'confirmed' },
        registryVersion: condition.version + 1,
        fhirVersionId: 2,
        registryUpdatedAt: new Date(),
        fhirUpdatedAt: new Date(),
        status: 'open',
        resolution: null,
      },
      new Date(),
    )

    const problem = await json<Problem>(await resolve(recorded.id, { choice: 'fhir' }), 409)

    expect(problem.code).toBe('PATIENT_DELETED')
    expect((await getConflict(recorded.id)).status).toBe('open')
    expect((await t.api('GET', `/conditions/${condition.id}`)).status).toBe(404)
  })
})

describe('registry delete against a FHIR edit', () => {
  /**
   * Edits the patient in HAPI and, before the notification arrives, deletes it with its
   * condition in the registry. The push finds FHIR's edit, so the delete waits for a steward.
   */
  async function registryDeleteConflict(): Promise<{
    patient: Patient
    condition: Condition
    conflict: Conflict
  }> {
    const condition = await createSyncedCondition()
    const patient = await getPatient(condition.patientId)
    const current = await readFhirPatient(patient.id)
    await t.hospital.update<FhirPatient>({ ...current, gender: 'unknown' })
    const deleted = await t.api('DELETE', `/patients/${patient.id}`, undefined, {
      'If-Match': `"${patient.version}"`,
    })
    expect(deleted.status).toBe(204)
    return { patient, condition, conflict: await waitForConflict(patient.id, '(deleted)') }
  }

  it("records FHIR's fields against the registry's delete", async () => {
    const { conflict } = await registryDeleteConflict()

    expect(conflict.registryValue).toBeNull()
    expect((conflict.fhirValue as Patient).gender).toBe('unknown')
  })

  it('restores the patient and its conditions when FHIR wins', async () => {
    const { patient, condition, conflict } = await registryDeleteConflict()

    const resolved = await json<ConflictDetail>(await resolve(conflict.id, { choice: 'fhir' }), 200)
    const restored = await waitUntilSynced(() => getPatient(patient.id))
    const restoredCondition = await waitUntilSynced(() => getCondition(condition.id))
    const rows = await audit.listByEntity(t.registry.db, 'condition', condition.id)

    expect(resolved.entity?.deleted).toBe(false)
    expect(restored.gender).toBe('unknown')
    expect(restoredCondition.verificationStatus).toBe('provisional')
    expect(rows.at(-1)?.action).toBe('restore')
    expect(await t.hospital.read<FhirPatient>('Patient', patient.id)).not.toBeNull()
    expect(await t.hospital.read<FhirCondition>('Condition', condition.id)).not.toBeNull()
  })

  it('deletes the resources in HAPI when the registry wins', async () => {
    const { patient, condition, conflict } = await registryDeleteConflict()

    await json<ConflictDetail>(await resolve(conflict.id, { choice: 'registry' }), 200)
    await waitFor('the patient to be deleted in HAPI', async () => {
      const stored = await t.hospital.read<FhirPatient>('Patient', patient.id)
      return stored === null ? true : undefined
    })

    expect(await t.hospital.read<FhirCondition>('Condition', condition.id)).toBeNull()
    expect((await t.api('GET', `/patients/${patient.id}`)).status).toBe(404)
  })
})
