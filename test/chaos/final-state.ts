import type {
  Bundle,
  Condition as FhirCondition,
  Patient as FhirPatient,
  Resource,
} from '@medplum/fhirtypes'
import { sql, type Kysely } from 'kysely'
import type { AuditRow } from '../../src/audit/audit.repository.ts'
import type { ConditionRow } from '../../src/conditions/condition.repository.ts'
import type { ConflictRow } from '../../src/conflicts/conflict.repository.ts'
import type { Database } from '../../src/platform/db.ts'
import type { PatientRow } from '../../src/patients/patient.repository.ts'
import type { NotificationRow } from '../../src/sync/notification.repository.ts'

/** One version of a Patient or Condition in HAPI's history. */
export interface HistoryEntry {
  resourceType: string
  id: string
  versionId: number
  /** POST or PUT for a create or update, DELETE for a delete. */
  method: string
  source: string | null
}

/** A pg-boss job of any queue, as the checks and the failure report need it. */
export interface JobRow {
  id: string
  name: string
  state: string
  singleton_key: string | null
  data: unknown
  retry_count: number
  start_after: Date
  output: unknown
  /** For a dead letter: the error of the job it copies, and that job's retry count. */
  source_output: unknown
  source_retry_count: number | null
}

/** Both sides after the run: every registry row (deleted too), and what HAPI contains now. */
export interface FinalState {
  identifierSystem: string
  patients: PatientRow[]
  conditions: ConditionRow[]
  conflicts: ConflictRow[]
  audit: AuditRow[]
  notifications: NotificationRow[]
  jobs: JobRow[]
  fhirPatients: Map<string, FhirPatient>
  fhirConditions: Map<string, FhirCondition>
  history: HistoryEntry[]
}

/** Reads the registry tables, the queue and HAPI's current resources and history. */
export async function readFinalState(
  db: Kysely<Database>,
  queueSchema: string,
  fhirBaseUrl: string,
  identifierSystem: string,
): Promise<FinalState> {
  const jobs = await sql<JobRow>`
    select id, name, state::text as state, singleton_key, data, retry_count, start_after, output,
      source_output, source_retry_count
    from ${sql.table(`${queueSchema}.job`)}
    where state <> 'completed'
    order by name, start_after`.execute(db)
  return {
    identifierSystem,
    patients: await db.selectFrom('patients').selectAll().orderBy('created_at').execute(),
    conditions: await db.selectFrom('conditions').selectAll().orderBy('created_at').execute(),
    conflicts: await db.selectFrom('conflicts').selectAll().orderBy('created_at').execute(),
    audit: await db.selectFrom('audit_log').selectAll().orderBy('id').execute(),
    notifications: await db.selectFrom('fhir_notifications').selectAll().orderBy('id').execute(),
    jobs: jobs.rows,
    fhirPatients: byId(await readAll<FhirPatient>(`${fhirBaseUrl}/Patient?_count=500`)),
    fhirConditions: byId(await readAll<FhirCondition>(`${fhirBaseUrl}/Condition?_count=500`)),
    history: [
      ...(await readHistory(`${fhirBaseUrl}/Patient/_history?_count=500`)),
      ...(await readHistory(`${fhirBaseUrl}/Condition/_history?_count=500`)),
    ],
  }
}

function byId<R extends Resource>(resources: readonly R[]): Map<string, R> {
  return new Map(resources.map((resource) => [resource.id ?? '', resource]))
}

async function readAll<R extends Resource>(firstPage: string): Promise<R[]> {
  const resources: R[] = []
  for await (const entry of entriesOf(firstPage)) {
    if (entry.resource) resources.push(entry.resource as R)
  }
  return resources
}

/** Reads every version of the type's resources, deletes included, from HAPI's history. */
async function readHistory(firstPage: string): Promise<HistoryEntry[]> {
  const versions: HistoryEntry[] = []
  for await (const entry of entriesOf(firstPage)) {
    // A delete entry has no resource; its request URL or full URL names the resource and version.
    const url = entry.request?.url ?? entry.fullUrl ?? ''
    const match = /([A-Za-z]+)\/([A-Za-z0-9\-.]+)(?:\/_history\/(\d+))?$/.exec(url)
    const resourceType = entry.resource?.resourceType ?? match?.[1] ?? ''
    const id = entry.resource?.id ?? match?.[2] ?? ''
    const versionId = Number(
      entry.resource?.meta?.versionId ?? match?.[3] ?? /\d+/.exec(entry.response?.etag ?? '')?.[0],
    )
    versions.push({
      resourceType,
      id,
      versionId,
      method: entry.request?.method ?? '',
      source: entry.resource?.meta?.source ?? null,
    })
  }
  return versions
}

async function* entriesOf(firstPage: string): AsyncGenerator<NonNullable<Bundle['entry']>[number]> {
  let next: string | undefined = firstPage
  while (next) {
    const response = await fetch(next, {
      headers: { Accept: 'application/fhir+json', 'Cache-Control': 'no-cache' },
      signal: AbortSignal.timeout(60_000),
    })
    if (!response.ok) throw new Error(`GET ${next} returned ${response.status}`)
    const bundle = (await response.json()) as Bundle
    yield* bundle.entry ?? []
    next = bundle.link?.find((link) => link.relation === 'next')?.url
  }
}
