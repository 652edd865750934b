import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import { MULTIPLE_SCLEROSIS, conditionInput, patientInput } from './merge-fixtures.ts'

/**
 * Failures injected in front of the real HAPI: each rule matches writes whose body contains
 * `marker` (a patient's unique family name) and responds in HAPI's place `times` times, or passes the
 * request on and then loses the response. Rules are set before the patient is created, so the
 * first push already meets them.
 */
interface FaultRule {
  method: string
  marker: string
  times: number
  /** A response to return instead of calling HAPI; without one, HAPI is called and the response lost. */
  respond?: () => Response
  hits: number
}

const faults: FaultRule[] = []

function addFault(rule: Omit<FaultRule, 'hits'>): FaultRule {
  const added = { ...rule, hits: 0 }
  faults.push(added)
  return added
}

const faultyFetch: typeof fetch = async (input, init) => {
  const method = init?.method ?? 'GET'
  const body = typeof init?.body === 'string' ? init.body : ''
  const rule = faults.find(
    (candidate) =>
      candidate.method === method &&
      body.includes(candidate.marker) &&
      candidate.hits < candidate.times,
  )
  if (!rule) return fetch(input, init)
  rule.hits++
  if (rule.respond) return rule.respond()
  await fetch(input, init)
  throw new TypeError('fetch failed: the connection was reset after the request was sent')
}

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('sync_admin', { PUSH_RETRY_LIMIT: '3' }, { fetch: faultyFetch })
})

afterAll(async () => {
  await t.stop()
})

/** Creates a patient whose family name is `marker`, so fault rules can find its pushes. */
async function createPatient(marker = `Family-${crypto.randomUUID()}`): Promise<Patient> {
  const response = await t.api(
    'POST',
    '/patients',
    patientInput({ names: [{ use: 'official', family: marker, given: ['Maja'] }] }),
  )
  expect(response.status).toBe(201)
  return (await response.json()) as Patient
}

async function syncOf(id: string): Promise<Patient['sync']> {
  const response = await t.api('GET', `/patients/${id}`)
  expect(response.status).toBe(200)
  return ((await response.json()) as Patient).sync
}

async function waitForState(id: string, state: Patient['sync']['state']): Promise<Patient['sync']> {
  return waitFor(`patient ${id} ${state}`, async () => {
    const sync = await syncOf(id)
    return sync.state === state ? sync : undefined
  })
}

/** The parts of GET /sync/status that these tests read. */
interface SyncStatusBody {
  modes: Record<string, { direction: string; trigger: string }>
  queues: Record<string, { ready: number; deferred: number; active: number }>
  deadLetters: Record<string, number>
  rows: Record<string, { pending: number; conflict: number; failed: number }>
  subscriptions: { items: { resourceType: string; status: string }[] }
}

async function statusOf(registry: TestRegistry): Promise<SyncStatusBody> {
  const response = await registry.api('GET', '/sync/status')
  expect(response.status).toBe(200)
  return (await response.json()) as SyncStatusBody
}

async function status(): Promise<SyncStatusBody> {
  return statusOf(t)
}

describe('push failures', () => {
  it('marks a row failed at once on a 422 and lists it', async () => {
    const marker = `Family-${crypto.randomUUID()}`
    const fault = addFault({
      method: 'PUT',
      marker,
      times: 1,
      respond: () =>
        Response.json(
          { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] },
          { status: 422 },
        ),
    })
    const patient = await createPatient(marker)

    const sync = await waitForState(patient.id, 'failed')
    const failed = await t.api('GET', '/sync/failed?entityType=patient')
    const body = (await failed.json()) as { items: { id: string; error: string }[] }

    expect(fault.hits).toBe(1)
    expect(sync.error).toContain('422')
    expect(body.items.map((item) => item.id)).toContain(patient.id)
    expect((await status()).deadLetters['fhir-push-dead']).toBeGreaterThanOrEqual(1)
  })

  it('replays a failed row to FHIR and clears its dead letter', async () => {
    const marker = `Family-${crypto.randomUUID()}`
    addFault({
      method: 'PUT',
      marker,
      times: 1,
      respond: () => new Response('bad request', { status: 400 }),
    })
    const patient = await createPatient(marker)
    await waitForState(patient.id, 'failed')
    const deadBefore = (await status()).deadLetters['fhir-push-dead'] ?? 0

    const replay = await t.api('POST', `/sync/failed/patient/${patient.id}/replay`)

    expect(replay.status).toBe(202)
    await waitForState(patient.id, 'synced')
    expect(await t.hospital.read<FhirPatient>('Patient', patient.id)).not.toBeNull()
    expect((await status()).deadLetters['fhir-push-dead']).toBe(deadBefore - 1)
  })

  it('rejects the replay of a row that is not failed with 409', async () => {
    const patient = await createPatient()
    await waitForState(patient.id, 'synced')

    const replay = await t.api('POST', `/sync/failed/patient/${patient.id}/replay`)

    expect(replay.status).toBe(409)
    expect(((await replay.json()) as { code: string }).code).toBe('ENTITY_NOT_FAILED')
  })

  it('rejects the replay of an unknown row with 404', async () => {
    const replay = await t.api('POST', `/sync/failed/condition/${crypto.randomUUID()}/replay`)

    expect(replay.status).toBe(404)
  })

  it('retries a 503 after the Retry-After and then succeeds', async () => {
    const marker = `Family-${crypto.randomUUID()}`
    const fault = addFault({
      method: 'PUT',
      marker,
      times: 2,
      respond: () => new Response('busy', { status: 503, headers: { 'Retry-After': '1' } }),
    })
    const patient = await createPatient(marker)

    await waitForState(patient.id, 'synced')

    expect(fault.hits).toBe(2)
  })

  it('gives up after the last try and dead-letters the job', async () => {
    const marker = `Family-${crypto.randomUUID()}`
    const fault = addFault({
      method: 'PUT',
      marker,
      times: 10,
      respond: () => new Response('down', { status: 502, headers: { 'Retry-After': '1' } }),
    })
    const patient = await createPatient(marker)

    const sync = await waitForState(patient.id, 'failed')

    expect(fault.hits).toBe(3)
    expect(sync.error).toContain('3 tries')
  })

  it('creates one FHIR resource when the response of the create is lost', async () => {
    const marker = `Family-${crypto.randomUUID()}`
    const fault = addFault({ method: 'PUT', marker, times: 1 })
    const patient = await createPatient(marker)

    await waitForState(patient.id, 'synced')
    const found = await t.hospital.search<FhirPatient>('Patient', {
      identifier: `${t.identifierSystem}|${patient.id}`,
    })

    expect(fault.hits).toBe(1)
    expect(found.entry?.length).toBe(1)
    expect(found.entry?.[0]?.resource?.meta?.versionId).toBe('1')
  })

  it('replays every failed row', async () => {
    const markers = [`Family-${crypto.randomUUID()}`, `Family-${crypto.randomUUID()}`]
    for (const marker of markers) {
      addFault({
        method: 'PUT',
        marker,
        times: 1,
        respond: () => new Response('bad request', { status: 400 }),
      })
    }
    const patients = [await createPatient(markers[0]), await createPatient(markers[1])]
    for (const patient of patients) await waitForState(patient.id, 'failed')

    const replay = await t.api('POST', '/sync/failed/replay', { entityType: 'patient' })
    const body = (await replay.json()) as { replayed: number }

    expect(replay.status).toBe(202)
    expect(body.replayed).toBeGreaterThanOrEqual(2)
    for (const patient of patients) await waitForState(patient.id, 'synced')
    const rows = await sql<{ count: string }>`
      select count(*) from patients where sync_state = 'failed'`.execute(t.registry.db)
    expect(Number(rows.rows[0]?.count)).toBe(0)
  })
})

/** Requests a drift catch-up through the admin API and waits until it ends. */
async function runCatchUp(): Promise<{ status: string; counts: Record<string, number> }> {
  const requested = await t.api('POST', '/sync/drift/runs', { kind: 'catch-up' })
  expect(requested.status).toBe(202)
  const run = (await requested.json()) as { id: string }
  return waitFor('catch-up run finished', async () => {
    const response = await t.api('GET', `/sync/drift/runs/${run.id}`)
    const body = (await response.json()) as { status: string; counts: Record<string, number> }
    return body.status === 'finished' || body.status === 'failed' ? body : undefined
  })
}

describe('stale jobs', () => {
  it('queues the push of a pending row whose job was lost', async () => {
    const patient = await createPatient()
    await waitForState(patient.id, 'synced')
    // A committed change whose job died with its process: pending, old, and no job queued.
    await sql`
      update patients
      set gender = 'other', version = version + 1, sync_state = 'pending',
        updated_at = now() - interval '10 minutes'
      where id = ${patient.id}`.execute(t.registry.db)

    const finished = await runCatchUp()

    // A scheduled catch-up may have queued it first, so the requested run's count can be 0.
    expect(finished.status).toBe('finished')
    await waitForState(patient.id, 'synced')
    const stored = await t.hospital.read<FhirPatient>('Patient', patient.id)
    expect(stored?.gender).toBe('other')
  })

  it('queues the merge of a notification whose job was lost', async () => {
    const patient = await createPatient()
    const synced = await waitForState(patient.id, 'synced')
    const inserted = await sql<{ id: string }>`
      insert into fhir_notifications (received_at, method, resource_type, resource_id, version_id)
      values (now() - interval '10 minutes', 'PUT', 'Patient', ${patient.id}, ${synced.fhirVersionId})
      returning id`.execute(t.registry.db)
    const notificationId = inserted.rows[0]?.id

    const finished = await runCatchUp()

    expect(finished.status).toBe('finished')
    const processed = await waitFor('notification processed', async () => {
      const result = await sql<{ outcome: string | null }>`
        select outcome from fhir_notifications where id = ${notificationId}`.execute(t.registry.db)
      return result.rows[0]?.outcome ?? undefined
    })
    expect(processed).toBe('stale')
  })
})

describe('deletes against unpushed work', () => {
  it('keeps a patient FHIR deleted while its new condition waits to be pushed', async () => {
    const patient = await createPatient()
    await waitForState(patient.id, 'synced')
    const marker = `Condition-${crypto.randomUUID()}`
    // The condition goes out as a PUT when its job is fetched alone, and inside a transaction
    // Bundle (a POST to the base) when other push jobs are fetched with it.
    for (const method of ['PUT', 'POST']) {
      addFault({
        method,
        marker,
        times: 100,
        respond: () => new Response('busy', { status: 503, headers: { 'Retry-After': '600' } }),
      })
    }
    const created = await t.api(
      'POST',
      '/conditions',
      conditionInput(patient.id, {
        code: { coding: [MULTIPLE_SCLEROSIS], text: marker },
      }),
    )
    expect(created.status).toBe(201)

    await t.hospital.delete('Patient', patient.id)
    const sync = await waitForState(patient.id, 'conflict')
    const conflicts = await sql<{ field_path: string }>`
      select field_path from conflicts
      where entity_id = ${patient.id} and status = 'open'`.execute(t.registry.db)

    expect(sync.state).toBe('conflict')
    expect(conflicts.rows.map((row) => row.field_path)).toEqual(['(deleted)'])
  })
})

describe('sync status', () => {
  it('reports modes, queues, rows and active Subscriptions', async () => {
    const body = await status()

    expect(body.modes).toEqual({
      Patient: { direction: 'two-way', trigger: 'subscription' },
      Condition: { direction: 'two-way', trigger: 'subscription' },
    })
    expect(Object.keys(body.queues).sort()).toEqual(['drift', 'merge', 'push'])
    expect(typeof body.queues.push?.active).toBe('number')
    expect(typeof body.rows.patients?.failed).toBe('number')
    expect(body.subscriptions.items.map((item) => item.status)).toEqual(['active', 'active'])
  })

  it('registers the Subscriptions again on request', async () => {
    const response = await t.api('POST', '/sync/subscriptions')
    const body = (await response.json()) as { items: { resourceType: string; status: string }[] }

    expect(response.status).toBe(200)
    expect(body.items).toEqual([
      expect.objectContaining({ resourceType: 'Patient', status: 'active' }),
      expect.objectContaining({ resourceType: 'Condition', status: 'active' }),
    ])
  })
})

describe('sync modes', () => {
  let oneWay: TestRegistry

  beforeAll(async () => {
    oneWay = await startTestRegistry('sync_modes', {
      SYNC_DIRECTION: 'Patient=to-fhir,Condition=from-fhir',
    })
  })

  afterAll(async () => {
    await oneWay.stop()
  })

  it('rejects a registry write of a from-fhir type with 409', async () => {
    const created = await oneWay.api('POST', '/patients', patientInput())
    const patient = (await created.json()) as Patient

    const response = await oneWay.api('POST', '/conditions', conditionInput(patient.id))

    expect(response.status).toBe(409)
    expect(((await response.json()) as { code: string }).code).toBe('READ_ONLY_SYNC_DIRECTION')
  })

  it('subscribes only to the types it pulls', async () => {
    const body = await statusOf(oneWay)

    expect(body.subscriptions.items).toEqual([
      expect.objectContaining({ resourceType: 'Patient', status: 'absent' }),
      expect.objectContaining({ resourceType: 'Condition', status: 'active' }),
    ])
  })

  it('writes a to-fhir row over a FHIR edit', async () => {
    const created = await oneWay.api('POST', '/patients', patientInput({ gender: 'female' }))
    const patient = (await created.json()) as Patient
    const edited = await waitFor('first push', async () => {
      const read = await oneWay.hospital.read<FhirPatient>('Patient', patient.id)
      return read ?? undefined
    })
    await oneWay.hospital.update({ ...edited, gender: 'other' })

    const patch = await oneWay.api(
      'PATCH',
      `/patients/${patient.id}`,
      { birthDate: '1971-02-03' },
      { 'If-Match': '"1"', 'Content-Type': 'application/merge-patch+json' },
    )
    expect(patch.status).toBe(200)
    const stored = await waitFor('registry values in FHIR', async () => {
      const read = await oneWay.hospital.read<FhirPatient>('Patient', patient.id)
      return read?.birthDate === '1971-02-03' ? read : undefined
    })

    expect(stored.gender).toBe('female')
    expect((await oneWay.api('GET', `/patients/${patient.id}`)).status).toBe(200)
  })
})
