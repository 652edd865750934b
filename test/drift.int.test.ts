import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import type { DriftFinding, DriftRun } from '../src/sync/drift.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import {
  MULTIPLE_SCLEROSIS,
  createSynced,
  createdIds,
  fhirIdOf,
  hospitalEdit,
  hospitalPatient,
  patientInput,
  patientWithConditionsBundle,
  readFhir,
  rowOf,
} from './merge-fixtures.ts'

// No Subscriptions: every FHIR change in this file reaches the registry through drift alone.
let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('drift', { REGISTER_SUBSCRIPTIONS: 'false' })
  // The first catch-up only places the cursor at HAPI's current time; later runs read from it.
  await runDrift('catch-up')
})

afterAll(async () => {
  await t.stop()
})

async function postRun(kind: string, registry = t): Promise<Response> {
  return registry.api('POST', '/sync/drift/runs', { kind })
}

async function getRun(id: string, registry = t): Promise<DriftRun> {
  const response = await registry.api('GET', `/sync/drift/runs/${id}`)
  expect(response.status).toBe(200)
  return (await response.json()) as DriftRun
}

async function waitForRunEnd(id: string, registry = t): Promise<DriftRun> {
  return waitFor(`drift run ${id} ended`, async () => {
    const run = await getRun(id, registry)
    return run.status === 'finished' || run.status === 'failed' ? run : undefined
  })
}

/** Starts a run, waiting first for a requested run of the kind that is still active. */
async function runDrift(kind: 'catch-up' | 'verification', registry = t): Promise<DriftRun> {
  let response = await postRun(kind, registry)
  if (response.status === 409) {
    const problem = (await response.json()) as { runId: string }
    await waitForRunEnd(problem.runId, registry)
    response = await postRun(kind, registry)
  }
  expect(response.status).toBe(202)
  const run = await waitForRunEnd(((await response.json()) as DriftRun).id, registry)
  expect(run.error).toBeNull()
  expect(run.status).toBe('finished')
  return run
}

async function findingsOf(runId: string, registry = t): Promise<DriftFinding[]> {
  const response = await registry.api('GET', `/sync/drift/runs/${runId}/findings?limit=200`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { items: DriftFinding[] }).items
}

/**
 * Waits until no push or merge job waits to run or runs, on two polls in a row. Merge jobs
 * delayed for a parked notification do not count.
 */
async function waitForIdleQueues(): Promise<void> {
  const jobTable = sql.table(`${t.registry.config.QUEUE_SCHEMA}.job`)
  let quietPolls = 0
  await waitFor('idle push and merge queues', async () => {
    const result = await sql<{ count: number }>`
      select count(*)::int as count from ${jobTable}
      where name in ('fhir-push', 'fhir-merge') and state in ('created', 'retry', 'active')
        and start_after <= now()`.execute(t.registry.db)
    quietPolls = result.rows[0]?.count === 0 ? quietPolls + 1 : 0
    return quietPolls >= 2 ? true : undefined
  })
}

async function getPatient(id: string): Promise<Response> {
  return t.api('GET', `/patients/${id}`)
}

async function patientsWithFhirId(fhirId: string, registry = t): Promise<Patient[]> {
  const response = await registry.api('GET', `/patients?fhirId=${fhirId}`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { items: Patient[] }).items
}

describe('catch-up', () => {
  it('merges a hospital edit that no notification announced', async () => {
    const synced = await createSynced(t, 'patient', patientInput({ gender: 'female' }))
    await hospitalEdit(t, 'patient', fhirIdOf(synced), (resource) => {
      resource.gender = 'other'
    })

    const run = await runDrift('catch-up')

    expect(run.counts.queued).toBeGreaterThanOrEqual(1)
    const merged = await waitFor('hospital edit merged', async () => {
      const patient = (await (await getPatient(synced.id)).json()) as Patient
      return patient.gender === 'other' ? patient : undefined
    })
    expect(merged.sync.fhirVersionId).toBe(2)
  })

  it('applies a hospital delete', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    await t.hospital.delete('Patient', fhirIdOf(synced))

    const run = await runDrift('catch-up')

    expect(run.counts.deletes).toBeGreaterThanOrEqual(1)
    await waitFor('hospital delete merged', async () =>
      (await getPatient(synced.id)).status === 404 ? true : undefined,
    )
    expect((await rowOf(t, 'patient', synced.id)).deleted_at).not.toBeNull()
  })

  it('enrols a neurological patient written straight to HAPI', async () => {
    const mrn = `drift-${crypto.randomUUID()}`
    const response = await t.hospital.transaction(
      patientWithConditionsBundle(hospitalPatient(mrn), [MULTIPLE_SCLEROSIS]),
    )
    const ids = createdIds(response)
    const patientFhirId = ids.Patient[0] ?? ''

    await runDrift('catch-up')

    const [enrolled] = await waitFor('patient enrolled', async () => {
      const found = await patientsWithFhirId(patientFhirId)
      return found.length > 0 ? found : undefined
    })
    expect(enrolled?.source).toBe('external')
    const conditions = await t.api('GET', `/conditions?patientId=${enrolled?.id ?? ''}`)
    const items = ((await conditions.json()) as { items: Condition[] }).items
    expect(items.map((condition) => condition.sync.fhirId)).toEqual(ids.Condition)
  })

  it('changes nothing when run twice, and moves the cursor', async () => {
    await waitForIdleQueues()
    const first = await runDrift('catch-up')
    await waitForIdleQueues()
    const notificationsBefore = await notificationCount()

    const second = await runDrift('catch-up')

    expect(second.counts.queued).toBe(0)
    expect(second.counts.skipped).toBeGreaterThan(0)
    expect(await notificationCount()).toBe(notificationsBefore)
    expect(Date.parse(second.cursorTo ?? '')).toBeGreaterThan(Date.parse(first.cursorTo ?? ''))
    expect(Date.parse(second.cursorFrom ?? '')).toBeLessThan(Date.parse(second.cursorTo ?? ''))
  })

  it('starts for an empty rest-hook POST', async () => {
    const response = await fetch(`${t.url}/fhir-hook`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${t.registry.config.SUBSCRIPTION_SECRET}` },
    })
    expect(response.status).toBe(204)

    const run = await waitFor('catch-up requested by the receiver', async () => {
      const list = await t.api('GET', '/sync/drift/runs?kind=catch-up&limit=5')
      const { items } = (await list.json()) as { items: DriftRun[] }
      return items.find((item) => item.requestedBy === 'rest-hook')
    })
    expect((await waitForRunEnd(run.id)).status).toBe('finished')
  })
})

async function notificationCount(): Promise<number> {
  const row = await t.registry.db
    .selectFrom('fhir_notifications')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow()
  return Number(row.count)
}

describe('verification', () => {
  it('finds and repairs drift on both sides', async () => {
    const changedInRegistry = await createSynced(t, 'patient', patientInput({ gender: 'female' }))
    const changedInFhir = await createSynced(t, 'patient', patientInput({ gender: 'female' }))
    const deletedInFhir = await createSynced(t, 'patient', patientInput())
    await waitForIdleQueues()
    // Behind the registry's back: no version bump, no push, no notification.
    await t.registry.db
      .updateTable('patients')
      .set({ gender: 'male' })
      .where('id', '=', changedInRegistry.id)
      .execute()
    await hospitalEdit(t, 'patient', fhirIdOf(changedInFhir), (resource) => {
      resource.birthDate = '1971-02-03'
    })
    await t.hospital.delete('Patient', fhirIdOf(deletedInFhir))

    const run = await runDrift('verification')
    const findings = await findingsOf(run.id)

    const byEntity = (id: string) => findings.filter((finding) => finding.entityId === id)
    expect(byEntity(changedInRegistry.id)).toMatchObject([
      { kind: 'diverged', fields: ['gender'], action: 'push', fhirStatus: 'found' },
    ])
    expect(byEntity(changedInFhir.id)).toMatchObject([
      { kind: 'missed-change', action: 'merge', registryFhirVersionId: 1, fhirVersionId: 2 },
    ])
    expect(byEntity(deletedInFhir.id)).toMatchObject([
      { kind: 'deleted-in-fhir', action: 'merge-delete', fhirStatus: 'deleted' },
    ])
    expect(run.counts.checked).toBeGreaterThanOrEqual(3)
    expect(run.counts.findings).toBe(findings.length)
    expect(run.counts.diverged).toBeGreaterThanOrEqual(1)

    await waitFor('registry value pushed to FHIR', async () => {
      const stored = await readFhir(t, 'patient', fhirIdOf(changedInRegistry))
      return stored.gender === 'male' ? true : undefined
    })
    await waitFor('FHIR edit merged', async () => {
      const patient = (await (await getPatient(changedInFhir.id)).json()) as Patient
      return patient.birthDate === '1971-02-03' ? true : undefined
    })
    await waitFor('FHIR delete merged', async () =>
      (await getPatient(deletedInFhir.id)).status === 404 ? true : undefined,
    )
  })

  it('finds nothing once the repairs are done', async () => {
    await waitForIdleQueues()

    const run = await runDrift('verification')

    expect(await findingsOf(run.id)).toEqual([])
    expect(run.counts.findings).toBe(0)
    expect(run.counts.checked).toBeGreaterThan(0)
  })

  it('records every field that differs', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    await waitForIdleQueues()
    await t.registry.db
      .updateTable('patients')
      .set({ birth_date: '1950', gender: 'other' })
      .where('id', '=', synced.id)
      .execute()

    const run = await runDrift('verification')
    const [finding] = (await findingsOf(run.id)).filter((item) => item.entityId === synced.id)

    expect(finding?.fields.toSorted()).toEqual(['birthDate', 'gender'])
    await waitFor('registry values pushed', async () => {
      const stored: FhirPatient = await readFhir(t, 'patient', fhirIdOf(synced))
      return stored.birthDate === '1950' ? true : undefined
    })
  })
})

describe('verification of a type that flows only from FHIR', () => {
  let fromFhir: TestRegistry

  beforeAll(async () => {
    fromFhir = await startTestRegistry('drift_from_fhir', {
      REGISTER_SUBSCRIPTIONS: 'false',
      SYNC_DIRECTION: 'Patient=from-fhir',
    })
    await runDrift('catch-up', fromFhir)
  })

  afterAll(async () => {
    await fromFhir.stop()
  })

  it('takes FHIR values instead of pushing', async () => {
    const response = await fromFhir.hospital.transaction(
      patientWithConditionsBundle(hospitalPatient(`drift-${crypto.randomUUID()}`), [
        MULTIPLE_SCLEROSIS,
      ]),
    )
    const fhirId = createdIds(response).Patient[0] ?? ''
    await runDrift('catch-up', fromFhir)
    const [enrolled] = await waitFor('patient enrolled', async () => {
      const found = await patientsWithFhirId(fhirId, fromFhir)
      return found.length > 0 ? found : undefined
    })
    const id = enrolled?.id ?? ''
    const versionBefore = (await readFhir(fromFhir, 'patient', fhirId)).meta?.versionId
    await fromFhir.registry.db
      .updateTable('patients')
      .set({ gender: 'other' })
      .where('id', '=', id)
      .execute()

    const run = await runDrift('verification', fromFhir)

    const findings = (await findingsOf(run.id, fromFhir)).filter((item) => item.entityId === id)
    expect(findings).toMatchObject([{ kind: 'diverged', fields: ['gender'], action: 'take-fhir' }])
    expect(run.counts.fhirValuesTaken).toBe(1)
    expect(run.counts.pushesQueued).toBe(0)
    const row = await fromFhir.registry.db
      .selectFrom('patients')
      .select(['gender', 'sync_state', 'identifiers'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    expect(row.gender).toBe('male')
    expect(row.sync_state).toBe('synced')
    // The registry identifier never reaches FHIR for this type, and taking FHIR's values keeps it.
    expect(row.identifiers).toContainEqual(
      expect.objectContaining({ system: fromFhir.identifierSystem }),
    )
    const audit = await fromFhir.registry.db
      .selectFrom('audit_log')
      .select(['source', 'action'])
      .where('entity_id', '=', id)
      .where('source', '=', 'drift')
      .execute()
    expect(audit).toEqual([{ source: 'drift', action: 'update' }])
    expect((await readFhir(fromFhir, 'patient', fhirId)).meta?.versionId).toBe(versionBefore)
  })
})

describe('drift runs API', () => {
  it('rejects a second run of a kind with 409 while one is active', async () => {
    const [first, second] = await Promise.all([postRun('verification'), postRun('verification')])
    const statuses = [first.status, second.status].toSorted()
    expect(statuses).toEqual([202, 409])

    const accepted = (await (first.status === 202 ? first : second).json()) as DriftRun
    const problem = (await (first.status === 409 ? first : second).json()) as {
      code: string
      runId: string
    }
    expect(accepted.status).toBe('queued')
    expect(problem.code).toBe('DRIFT_RUN_ACTIVE')
    expect(problem.runId).toBe(accepted.id)
    expect((await waitForRunEnd(accepted.id)).status).toBe('finished')
  })

  it('returns 404 DRIFT_RUN_NOT_FOUND for an unknown run', async () => {
    const response = await t.api('GET', `/sync/drift/runs/${crypto.randomUUID()}`)

    expect(response.status).toBe(404)
    expect(((await response.json()) as { code: string }).code).toBe('DRIFT_RUN_NOT_FOUND')
  })

  it('reports its last runs and cursors in the sync status', async () => {
    const response = await t.api('GET', '/sync/status')
    expect(response.status).toBe(200)
    const { drift } = (await response.json()) as {
      drift: {
        'catch-up': { lastRun: DriftRun | null; cursors: { resourceType: string }[] }
        verification: { lastRun: DriftRun | null }
      }
    }

    expect(drift['catch-up'].lastRun?.kind).toBe('catch-up')
    expect(drift.verification.lastRun?.kind).toBe('verification')
    expect(drift['catch-up'].cursors.map((cursor) => cursor.resourceType)).toEqual([
      'Condition',
      'Patient',
    ])
  })

  it('lists runs newest first', async () => {
    const response = await t.api('GET', '/sync/drift/runs?limit=50')
    const { items } = (await response.json()) as { items: DriftRun[] }

    const created = items.map((run) => Date.parse(run.createdAt))
    expect(created).toEqual(created.toSorted((a, b) => b - a))
    expect(items.some((run) => run.kind === 'verification')).toBe(true)
    expect(items.some((run) => run.kind === 'catch-up')).toBe(true)
  })
})
