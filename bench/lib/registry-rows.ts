/**
 * Registry rows for the outbound benchmarks, written through the registry's own HTTP API so each
 * write queues its push job exactly as a user's write does.
 */
import { sql } from 'kysely'
import type { Registry } from '../../src/app.ts'

/** SNOMED CT multiple sclerosis, a code of the bundled neurological value set. */
const MULTIPLE_SCLEROSIS = {
  system: 'http://snomed.info/sct',
  code: '24700007',
  display: 'Multiple sclerosis',
}

/** A patient of the benchmark with the ids of its conditions. */
export interface BenchPatient {
  id: string
  conditionIds: string[]
}

/** Sends one request to a registry API, in-process (`Registry`) or over HTTP (a base URL). */
export type ApiTarget = Registry | string

export async function apiRequest(
  target: ApiTarget,
  authorization: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const init: RequestInit = {
    method,
    headers: {
      Authorization: authorization,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }
  return typeof target === 'string'
    ? fetch(`${target}${path}`, init)
    : target.app.request(path, init)
}

async function created(response: Response, path: string): Promise<{ id: string }> {
  if (response.status !== 201) {
    throw new Error(`POST ${path} returned ${String(response.status)}: ${await response.text()}`)
  }
  return (await response.json()) as { id: string }
}

export function patientBody(index: number) {
  return {
    names: [{ use: 'official', family: `Bench${String(index)}`, given: ['Ada', 'Maria'] }],
    birthDate: '1970-01-01',
    gender: index % 2 === 0 ? 'female' : 'male',
    telecom: [{ system: 'email', value: `bench${String(index)}@example.org` }],
  }
}

export function conditionBody(patientId: string, index: number) {
  return {
    patientId,
    code: { coding: [MULTIPLE_SCLEROSIS] },
    clinicalStatus: 'active',
    verificationStatus: 'confirmed',
    onset: { dateTime: `${String(2000 + (index % 20))}-01` },
    recordedDate: '2016-02-03',
  }
}

/** Runs `task` for 0..count-1 with at most `parallel` at a time. */
export async function inParallel(
  count: number,
  parallel: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) await task(next++)
    }),
  )
}

/**
 * Creates `count` patients with `conditionsPerPatient` conditions each through the API, a few
 * patients at a time, and returns them in creation order.
 */
export async function createPatients(
  target: ApiTarget,
  authorization: string,
  count: number,
  conditionsPerPatient: number,
  parallel = 8,
): Promise<BenchPatient[]> {
  const patients: BenchPatient[] = new Array<BenchPatient>(count)
  await inParallel(count, parallel, async (index) => {
    const patient = await created(
      await apiRequest(target, authorization, 'POST', '/patients', patientBody(index)),
      '/patients',
    )
    const conditionIds: string[] = []
    for (let number = 0; number < conditionsPerPatient; number++) {
      const condition = await created(
        await apiRequest(
          target,
          authorization,
          'POST',
          '/conditions',
          conditionBody(patient.id, index + number),
        ),
        '/conditions',
      )
      conditionIds.push(condition.id)
    }
    patients[index] = { id: patient.id, conditionIds }
  })
  return patients
}

/** Counts the rows of both tables by sync state. */
export async function syncCounts(
  registry: Registry,
): Promise<{ total: number; synced: number; failed: number }> {
  const result = await sql<{ total: string; synced: string; failed: string }>`
    select count(*) as total,
      count(*) filter (where sync_state = 'synced') as synced,
      count(*) filter (where sync_state = 'failed') as failed
    from (
      select sync_state from patients union all select sync_state from conditions
    ) as rows`.execute(registry.db)
  const row = result.rows[0]
  return {
    total: Number(row?.total ?? 0),
    synced: Number(row?.synced ?? 0),
    failed: Number(row?.failed ?? 0),
  }
}

/** Counts the push jobs a worker has fetched so far: those no longer waiting in `created`. */
export async function fetchedPushJobs(registry: Registry): Promise<number> {
  const result = await sql<{ fetched: string }>`
    select count(*) as fetched from ${sql.table(`${registry.config.QUEUE_SCHEMA}.job`)}
    where name = 'fhir-push' and state <> 'created'`.execute(registry.db)
  return Number(result.rows[0]?.fetched ?? 0)
}

/**
 * Deletes the drift catch-up's cursors, so the next worker's catch-up starts at HAPI's current
 * time, as in a new registry. Otherwise it would read back every resource the plain clients wrote
 * since the last worker ran, and merge them as FHIR changes while the engine is timed.
 */
export async function forgetDriftCursors(registry: Registry): Promise<void> {
  await sql`delete from drift_cursors`.execute(registry.db)
}
