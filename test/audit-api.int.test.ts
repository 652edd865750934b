import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditLogEntry, AuditPage } from '../src/audit/audit.schemas.ts'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Conflict } from '../src/conflicts/conflict.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import {
  conditionInput,
  createSynced,
  hospitalEdit,
  patchEntity,
  patientInput,
  waitForSettled,
} from './merge-fixtures.ts'

interface Problem {
  code: string
  errors?: { path: string; message: string }[]
}

let t: TestRegistry

/** What the setup wrote: an API-made patient that FHIR changed, its condition and a conflict. */
let patient: Patient
let condition: Condition
let conflict: Conflict
let startedAt: string

beforeAll(async () => {
  t = await startTestRegistry('audit_api')
  startedAt = new Date().toISOString()

  // An API create and a PATCH, then a hospital edit of gender that the merge takes (`lww`).
  const synced = await createSynced(t, 'patient', patientInput({ gender: 'female' }))
  const patched = await patchEntity(t, 'patient', synced, {
    telecom: [{ system: 'phone', value: '555-0199' }],
  })
  await waitForSettled(t, 'patient', patched.id)
  await hospitalEdit(t, 'patient', patched.id, (resource) => {
    resource.gender = 'other'
  })
  patient = await waitFor('the hospital gender merged', async () => {
    const current = await json<Patient>(await t.api('GET', `/patients/${patched.id}`), 200)
    return current.gender === 'other' ? current : undefined
  })
  await waitForSettled(t, 'patient', patient.id)
  condition = await createSynced(t, 'condition', conditionInput(patient.id))

  // birthDate is `manual`, so edits on both sides open a conflict for a steward.
  const current = await t.hospital.read<FhirPatient>('Patient', patient.id)
  if (!current) throw new Error(`Patient/${patient.id} is missing in HAPI`)
  await t.hospital.update<FhirPatient>({ ...current, birthDate: '1971-02-02' })
  patient = await patchEntity(t, 'patient', patient, { birthDate: '1972-03-03' })
  conflict = await waitFor('a birthDate conflict', async () => {
    const page = await json<{ items: Conflict[] }>(
      await t.api('GET', `/conflicts?entityId=${patient.id}&field=birthDate`),
      200,
    )
    return page.items[0]
  })
  const resolved = await t.api('POST', `/conflicts/${conflict.id}/resolve`, { choice: 'fhir' })
  expect(resolved.status).toBe(200)
  await waitForSettled(t, 'patient', patient.id)
  patient = await json<Patient>(await t.api('GET', `/patients/${patient.id}`), 200)
})

afterAll(async () => {
  await t.stop()
})

async function json<T>(response: Response, status: number): Promise<T> {
  const body = (await response.json()) as T
  expect(response.status, JSON.stringify(body)).toBe(status)
  return body
}

async function listAudit(query: Record<string, string | number>): Promise<AuditPage> {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) search.set(key, String(value))
  return json<AuditPage>(await t.api('GET', `/audit?${search.toString()}`), 200)
}

/** Follows `nextCursor` until the last page and returns every entry in order. */
async function listAllPages(
  query: Record<string, string | number>,
): Promise<{ entries: AuditLogEntry[]; pages: number }> {
  const entries: AuditLogEntry[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const page: AuditPage = await listAudit(cursor === null ? query : { ...query, cursor })
    entries.push(...page.items)
    cursor = page.nextCursor
    pages += 1
  } while (cursor !== null && pages < 100)
  return { entries, pages }
}

/** Checks that entries come newest first, ties broken by the larger id first. */
function expectNewestFirst(entries: readonly AuditLogEntry[]): void {
  for (let i = 1; i < entries.length; i += 1) {
    const newer = entries[i - 1]
    const older = entries[i]
    if (!newer || !older) continue
    const order = Date.parse(newer.occurredAt) - Date.parse(older.occurredAt)
    expect(order, `${newer.id} before ${older.id}`).toBeGreaterThanOrEqual(0)
    if (order === 0) expect(BigInt(newer.id) > BigInt(older.id)).toBe(true)
  }
}

async function patientEntries(): Promise<AuditLogEntry[]> {
  const page = await listAudit({ entityType: 'patient', entityId: patient.id, limit: 200 })
  return page.items
}

describe('GET /audit', () => {
  it('lists an entity newest first', async () => {
    const entries = await patientEntries()

    expectNewestFirst(entries)
    expect(entries.at(-1)?.action).toBe('create')
    expect(entries.at(-1)?.source).toBe('user')
    expect(entries.at(-1)?.before).toBeNull()
    expect(entries.map((entry) => entry.source)).toEqual(
      expect.arrayContaining(['user', 'fhir-merge', 'steward']),
    )
    for (const entry of entries) {
      expect(entry.entityType).toBe('patient')
      expect(entry.entityId).toBe(patient.id)
    }
  })

  it('returns an API write with its request id', async () => {
    const response = await t.api(
      'PATCH',
      `/patients/${patient.id}`,
      { names: [{ use: 'official', family: 'Lindqvist', given: ['Maja', 'Elin'] }] },
      { 'If-Match': `"${patient.version}"`, 'X-Request-ID': 'audit-api-names-1' },
    )
    patient = await json<Patient>(response, 200)

    const [latest] = await patientEntries()

    expect(latest?.requestId).toBe('audit-api-names-1')
    expect(latest?.action).toBe('update')
    expect(latest?.source).toBe('user')
    expect(latest?.after).toMatchObject({
      names: [{ use: 'official', family: 'Lindqvist', given: ['Maja', 'Elin'] }],
    })
    expect(latest?.occurredAt).toBe(patient.updatedAt)
    expect(latest?.conflictId).toBeNull()
  })

  it('filters by entity type', async () => {
    const page = await listAudit({ entityType: 'condition', occurredFrom: startedAt, limit: 200 })

    expect(page.items.length).toBeGreaterThan(0)
    expect(page.items.every((entry) => entry.entityType === 'condition')).toBe(true)
    expect(page.items.map((entry) => entry.entityId)).toContain(condition.id)
  })

  it('filters by entity id alone', async () => {
    const page = await listAudit({ entityId: condition.id })

    expect(page.items.length).toBeGreaterThan(0)
    expect(page.items.every((entry) => entry.entityId === condition.id)).toBe(true)
  })

  it('filters by source: the merge', async () => {
    const page = await listAudit({ source: 'fhir-merge', entityId: patient.id })

    expect(page.items.length).toBeGreaterThan(0)
    expect(page.items.every((entry) => entry.source === 'fhir-merge')).toBe(true)
    expect(page.items.every((entry) => entry.actor === 'fhir-merge')).toBe(true)
    expect(page.items.some((entry) => entry.action === 'update')).toBe(true)
  })

  it('filters by source: the steward', async () => {
    const page = await listAudit({ source: 'steward', occurredFrom: startedAt })
    const decision = page.items.find((entry) => entry.conflictId === conflict.id)

    expect(page.items.every((entry) => entry.source === 'steward')).toBe(true)
    expect(decision?.action).toBe('resolve')
    expect(decision?.entityId).toBe(patient.id)
  })

  it('filters by actor', async () => {
    const entries = await patientEntries()
    const userActor = entries.find((entry) => entry.source === 'user')?.actor ?? ''

    const byUser = await listAudit({ actor: userActor, entityId: patient.id })
    const byMerge = await listAudit({ actor: 'fhir-merge', entityId: patient.id })
    const byNobody = await listAudit({ actor: 'nobody-at-all', entityId: patient.id })

    expect(userActor).not.toBe('')
    expect(byUser.items.length).toBeGreaterThan(0)
    expect(byUser.items.every((entry) => entry.actor === userActor)).toBe(true)
    expect(byMerge.items.length).toBeGreaterThan(0)
    expect(byMerge.items.every((entry) => entry.actor === 'fhir-merge')).toBe(true)
    expect(byNobody.items).toEqual([])
  })

  it('filters by action', async () => {
    const creates = await listAudit({ action: 'create', entityId: patient.id })
    const resolves = await listAudit({ action: 'resolve', entityId: patient.id })

    expect(creates.items).toHaveLength(1)
    expect(creates.items[0]?.source).toBe('user')
    expect(resolves.items.length).toBeGreaterThan(0)
    expect(resolves.items.every((entry) => entry.action === 'resolve')).toBe(true)
  })

  it('filters by time, from inclusive and to exclusive', async () => {
    const entries = await patientEntries()
    const created = entries.at(-1)
    const nextTime = entries
      .map((entry) => entry.occurredAt)
      .findLast((time) => {
        return time !== created?.occurredAt
      })
    if (!created || !nextTime) throw new Error('The patient needs entries at two times')

    const window = await listAudit({
      entityId: patient.id,
      occurredFrom: created.occurredAt,
      occurredTo: nextTime,
    })
    const from = await listAudit({ entityId: patient.id, occurredFrom: nextTime, limit: 200 })
    const empty = await listAudit({
      entityId: patient.id,
      occurredFrom: created.occurredAt,
      occurredTo: created.occurredAt,
    })

    expect(window.items.map((entry) => entry.id)).toEqual([created.id])
    expect(from.items.map((entry) => entry.id)).not.toContain(created.id)
    expect(from.items.map((entry) => entry.occurredAt)).toContain(nextTime)
    expect(from.items).toHaveLength(entries.filter((entry) => entry.occurredAt >= nextTime).length)
    expect(empty.items).toEqual([])
  })

  it('accepts a time with an offset', async () => {
    const entries = await patientEntries()
    const created = entries.at(-1)
    if (!created) throw new Error('The patient has no entries')
    const at = new Date(created.occurredAt)
    // The same instant, written two hours ahead of UTC.
    const shifted = new Date(at.getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00')

    const page = await listAudit({ entityId: patient.id, occurredTo: shifted })

    expect(page.items).toEqual([])
  })

  it('pages an entity one entry at a time', async () => {
    const all = await patientEntries()

    const { entries, pages } = await listAllPages({ entityId: patient.id, limit: 1 })

    expect(all.length).toBeGreaterThan(3)
    expect(pages).toBe(all.length)
    expect(entries.map((entry) => entry.id)).toEqual(all.map((entry) => entry.id))
  })

  it('pages entries of one instant without gaps', async () => {
    // Deleting a patient writes its row and one per live condition at the same time.
    const doomed = await json<Patient>(await t.api('POST', '/patients', patientInput()), 201)
    for (let i = 0; i < 3; i += 1) {
      await json<Condition>(await t.api('POST', '/conditions', conditionInput(doomed.id)), 201)
    }
    const removed = await t.api('DELETE', `/patients/${doomed.id}`, undefined, {
      'If-Match': `"${doomed.version}"`,
    })
    expect(removed.status).toBe(204)
    const requestId = removed.headers.get('X-Request-ID')

    const deletes = await listAudit({ action: 'delete', occurredFrom: startedAt, limit: 200 })
    const ofRequest = deletes.items.filter((entry) => entry.requestId === requestId)
    const instant = ofRequest[0]?.occurredAt ?? ''
    const paged = await listAllPages({
      action: 'delete',
      occurredFrom: instant,
      occurredTo: new Date(Date.parse(instant) + 1).toISOString(),
      limit: 2,
    })

    expect(ofRequest).toHaveLength(4)
    expect(new Set(ofRequest.map((entry) => entry.occurredAt)).size).toBe(1)
    expectNewestFirst(paged.entries)
    expect(new Set(paged.entries.map((entry) => entry.id)).size).toBe(paged.entries.length)
    expect(paged.entries.map((entry) => entry.id)).toEqual(
      expect.arrayContaining(ofRequest.map((entry) => entry.id)),
    )
    expect(paged.pages).toBe(Math.ceil(paged.entries.length / 2))
  })

  it('pages with a filter across entities', async () => {
    const { entries } = await listAllPages({ source: 'user', occurredFrom: startedAt, limit: 3 })
    const single = await listAudit({ source: 'user', occurredFrom: startedAt, limit: 200 })

    expectNewestFirst(entries)
    expect(entries.every((entry) => entry.source === 'user')).toBe(true)
    expect(entries.map((entry) => entry.id)).toEqual(single.items.map((entry) => entry.id))
  })

  it('filters changes to users', async () => {
    // The harness created the calling user, which the audit log records like a record change.
    const page = await listAudit({ entityType: 'user', action: 'create' })

    expect(page.items.length).toBeGreaterThan(0)
    expect(page.items.every((entry) => entry.entityType === 'user')).toBe(true)
  })

  it('ends with a null cursor', async () => {
    const page = await listAudit({ entityId: condition.id, limit: 200 })

    expect(page.nextCursor).toBeNull()
  })

  it.each([
    ['entityType=user-group', 'entityType'],
    ['entityId=not-a-uuid', 'entityId'],
    ['source=hospital', 'source'],
    ['action=erase', 'action'],
    ['actor=', 'actor'],
    [`actor=${'a'.repeat(201)}`, 'actor'],
    ['occurredFrom=yesterday', 'occurredFrom'],
    ['occurredFrom=2026-01-01', 'occurredFrom'],
    ['occurredTo=2026-13-01T00:00:00Z', 'occurredTo'],
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['limit=ten', 'limit'],
    ['cursor=not-a-cursor', 'cursor'],
    [`cursor=${Buffer.from('2026-01-01T00:00:00.000Z|abc').toString('base64url')}`, 'cursor'],
    ['occurredFrom=2026-02-01T00:00:00Z&occurredTo=2026-01-01T00:00:00Z', 'occurredFrom'],
  ])('rejects %s with 400', async (query, path) => {
    const problem = await json<Problem>(await t.api('GET', `/audit?${query}`), 400)

    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toContain(path)
  })
})

describe('GET /audit/{id}', () => {
  it('reads one entry as the list shows it', async () => {
    const [listed] = await patientEntries()
    if (!listed) throw new Error('The patient has no entries')

    const entry = await json<AuditLogEntry>(await t.api('GET', `/audit/${listed.id}`), 200)

    expect(entry).toEqual(listed)
  })

  it('returns 404 for an unknown id', async () => {
    const problem = await json<Problem>(await t.api('GET', '/audit/999999999999'), 404)

    expect(problem.code).toBe('NOT_FOUND')
  })

  it.each(['abc', '0', '-1', '1.5', '1234567890123456789'])(
    'rejects id %s with 400',
    async (id) => {
      const problem = await json<Problem>(await t.api('GET', `/audit/${id}`), 400)

      expect(problem.code).toBe('VALIDATION_FAILED')
    },
  )
})

describe('audit access', () => {
  it('rejects a caller without the auditor role with 403', async () => {
    const clinician = await t.authorizationFor(['clinician', 'steward', 'admin'])

    const listResponse = await t.api('GET', '/audit', undefined, { Authorization: clinician })
    const entryResponse = await t.api('GET', '/audit/1', undefined, { Authorization: clinician })

    expect((await json<Problem>(listResponse, 403)).code).toBe('FORBIDDEN')
    expect((await json<Problem>(entryResponse, 403)).code).toBe('FORBIDDEN')
  })

  it('rejects a caller without a token with 401', async () => {
    const response = await t.api('GET', '/audit', undefined, { Authorization: '' })

    expect(response.status).toBe(401)
  })

  it('lets an auditor alone read', async () => {
    const auditor = await t.authorizationFor(['auditor'])

    const page = await json<AuditPage>(
      await t.api('GET', `/audit?entityId=${patient.id}`, undefined, { Authorization: auditor }),
      200,
    )

    expect(page.items.length).toBeGreaterThan(0)
  })
})
