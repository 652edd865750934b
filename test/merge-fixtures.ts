import type { Bundle, Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { sql } from 'kysely'
import { expect } from 'vitest'
import { AuditRepository, type AuditRow } from '../src/audit/audit.repository.ts'
import type { Condition, ConditionFields } from '../src/conditions/condition.schemas.ts'
import { ConflictRepository, type ConflictRow } from '../src/conflicts/conflict.repository.ts'
import type { Patient, PatientFields } from '../src/patients/patient.schemas.ts'
import { waitFor, type TestRegistry } from './harness.ts'

export const SNOMED_CT = 'http://snomed.info/sct'
export const ICD_10_CM = 'http://hl7.org/fhir/sid/icd-10-cm'
/** System of the medical record numbers the test hospital issues. */
export const HOSPITAL_MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.19.5.99999.1'

export const MULTIPLE_SCLEROSIS = {
  system: SNOMED_CT,
  code: '24700007',
  display: 'Multiple sclerosis',
}
export const MULTIPLE_SCLEROSIS_ICD = {
  system: ICD_10_CM,
  code: 'G35',
  display: 'Multiple sclerosis',
}

export type EntityType = 'patient' | 'condition'

interface EntityOf {
  patient: Patient
  condition: Condition
}

const API_PATHS = { patient: '/patients', condition: '/conditions' } as const
const TABLES = { patient: 'patients', condition: 'conditions' } as const
const RESOURCE_TYPES = { patient: 'Patient', condition: 'Condition' } as const

interface ResourceOf {
  patient: FhirPatient
  condition: FhirCondition
}

const conflictRepository = new ConflictRepository()
const auditRepository = new AuditRepository()

/** Builds the body of a POST /patients; `fields` replace the defaults. */
export function patientInput(fields: Partial<PatientFields> = {}): Partial<PatientFields> {
  return {
    names: [{ use: 'official', family: 'Lindqvist', given: ['Maja'] }],
    birthDate: '1970-01-01',
    gender: 'female',
    ...fields,
  }
}

/** Builds the body of a POST /conditions: multiple sclerosis, active and confirmed. */
export function conditionInput(
  patientId: string,
  fields: Partial<ConditionFields> = {},
): Partial<ConditionFields> & { patientId: string } {
  return {
    patientId,
    code: { coding: [MULTIPLE_SCLEROSIS] },
    clinicalStatus: 'active',
    verificationStatus: 'confirmed',
    onset: { dateTime: '2015-01' },
    recordedDate: '2016-02-03',
    ...fields,
  }
}

/** Builds a Patient as a hospital would create it in HAPI, with one medical record number. */
export function hospitalPatient(mrn: string, fields: Partial<FhirPatient> = {}): FhirPatient {
  return {
    resourceType: 'Patient',
    identifier: [{ use: 'usual', system: HOSPITAL_MRN_SYSTEM, value: mrn }],
    name: [{ use: 'official', family: 'Haddad', given: ['Samir'] }],
    birthDate: '1965-04-12',
    gender: 'male',
    ...fields,
  }
}

/** Builds a hospital's Condition of `subject` (a reference such as `Patient/12` or `urn:uuid:...`). */
export function hospitalCondition(
  subject: string,
  coding = MULTIPLE_SCLEROSIS,
  fields: Partial<FhirCondition> = {},
): FhirCondition {
  return {
    resourceType: 'Condition',
    subject: { reference: subject },
    code: { coding: [coding] },
    recordedDate: '2019-06-01',
    ...fields,
  }
}

/**
 * Builds a transaction Bundle that creates a Patient and Conditions of it, linked by a
 * `urn:uuid:` reference as hospitals send them.
 */
export function patientWithConditionsBundle(
  patient: FhirPatient,
  codings: readonly (typeof MULTIPLE_SCLEROSIS)[],
): Bundle {
  const patientUrl = `urn:uuid:${crypto.randomUUID()}`
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: patientUrl, resource: patient, request: { method: 'POST', url: 'Patient' } },
      ...codings.map((coding) => ({
        fullUrl: `urn:uuid:${crypto.randomUUID()}`,
        resource: hospitalCondition(patientUrl, coding),
        request: { method: 'POST' as const, url: 'Condition' },
      })),
    ],
  }
}

/** Returns the ids HAPI gave the resources of a transaction, by type, in entry order. */
export function createdIds(response: Bundle): { Patient: string[]; Condition: string[] } {
  const ids = { Patient: [] as string[], Condition: [] as string[] }
  for (const entry of response.entry ?? []) {
    const [type, id] = entry.response?.location?.split('/') ?? []
    if ((type === 'Patient' || type === 'Condition') && id) ids[type].push(id)
  }
  return ids
}

export async function getEntity<E extends EntityType>(
  t: TestRegistry,
  type: E,
  id: string,
): Promise<EntityOf[E]> {
  const response = await t.api('GET', `${API_PATHS[type]}/${id}`)
  expect(response.status).toBe(200)
  return (await response.json()) as EntityOf[E]
}

/** Creates an entity through the API and waits until HAPI has it and the row is synced. */
export async function createSynced<E extends EntityType>(
  t: TestRegistry,
  type: E,
  body: object,
): Promise<EntityOf[E]> {
  const response = await t.api('POST', API_PATHS[type], body)
  expect(response.status).toBe(201)
  const created = (await response.json()) as EntityOf[E]

  return waitFor(`${type} ${created.id} synced`, async () => {
    const current = await getEntity(t, type, created.id)
    return current.sync.state === 'synced' && current.sync.fhirVersionId !== null
      ? current
      : undefined
  })
}

/** Sends a PATCH with the ETag of `current` and expects it to succeed. */
export async function patchEntity<E extends EntityType>(
  t: TestRegistry,
  type: E,
  current: EntityOf[E],
  body: object,
): Promise<EntityOf[E]> {
  const response = await t.api('PATCH', `${API_PATHS[type]}/${current.id}`, body, {
    'If-Match': `"${current.version}"`,
  })
  expect(response.status).toBe(200)
  return (await response.json()) as EntityOf[E]
}

/** Reads the current version of a resource in HAPI; fails when it is missing. */
export async function readFhir<E extends EntityType>(
  t: TestRegistry,
  type: E,
  fhirId: string,
): Promise<ResourceOf[E]> {
  const stored = await t.hospital.read<ResourceOf[E]>(RESOURCE_TYPES[type], fhirId)
  if (!stored) throw new Error(`${RESOURCE_TYPES[type]}/${fhirId} is missing in HAPI`)
  return stored
}

/**
 * Changes a resource in HAPI as the hospital does: reads the current version, lets `edit` change
 * a copy, and writes it with If-Match on the version read.
 */
export async function hospitalEdit<E extends EntityType>(
  t: TestRegistry,
  type: E,
  fhirId: string,
  edit: (resource: ResourceOf[E]) => void,
): Promise<ResourceOf[E]> {
  const current = await readFhir(t, type, fhirId)
  const changed = structuredClone(current)
  edit(changed)
  return t.hospital.update(changed, { ifMatchVersion: Number(current.meta?.versionId) })
}

/**
 * Makes both sides change one synced row from the same base: the hospital writes to HAPI, and the
 * registry PATCH follows at once, so the push that the PATCH queues is the first to see the
 * hospital's version, and merges it. HAPI's notification of the hospital's write usually comes a
 * second or more later, but not always, and when its merge ran before the PATCH, the PATCH failed
 * with 412. So the receiver cannot record notifications until the PATCH is done: a lock on the
 * notification table holds HAPI's delivery back for that moment.
 */
export async function clash<E extends EntityType>(
  t: TestRegistry,
  type: E,
  synced: EntityOf[E],
  hospitalChange: (resource: ResourceOf[E]) => void,
  registryChange: object,
): Promise<EntityOf[E]> {
  const holder = await t.registry.pool.connect()
  try {
    await holder.query('begin')
    await holder.query(
      `lock table ${t.registry.config.DATABASE_SCHEMA}.fhir_notifications in exclusive mode`,
    )
    await hospitalEdit(t, type, fhirIdOf(synced), hospitalChange)
    return await patchEntity(t, type, synced, registryChange)
  } finally {
    await holder.query('commit')
    holder.release()
  }
}

export function fhirIdOf(entity: Patient | Condition): string {
  if (entity.sync.fhirId === null) throw new Error(`${entity.id} has no FHIR id`)
  return entity.sync.fhirId
}

/**
 * Waits until the registry has done all the work that the row's changes cause. HAPI's
 * notification of its current version (or of its deletion) must have arrived, every notification
 * of the resource must be processed, and no push or merge job of the row may wait or run. This
 * must be true on two polls in a row, because HAPI notifies a stored push a moment later.
 */
export async function waitForSettled(t: TestRegistry, type: EntityType, id: string): Promise<void> {
  let quietPolls = 0
  await waitFor(`${type} ${id} settled`, async () => {
    quietPolls = (await isSettled(t, type, id)) ? quietPolls + 1 : 0
    return quietPolls >= 2 ? true : undefined
  })
}

async function isSettled(t: TestRegistry, type: EntityType, id: string): Promise<boolean> {
  const resourceType = RESOURCE_TYPES[type]
  const row = await t.registry.db
    .selectFrom(TABLES[type])
    .select('fhir_id')
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
  const fhirId = row.fhir_id ?? id

  const queueTable = sql.table(`${t.registry.config.QUEUE_SCHEMA}.job`)
  const jobs = await sql<{ count: number }>`
    select count(*)::int as count from ${queueTable}
    where singleton_key in (${`${type}:${id}`}, ${`${resourceType}/${fhirId}`})
      and state in ('created', 'retry', 'active')`.execute(t.registry.db)
  if ((jobs.rows[0]?.count ?? 0) > 0) return false

  const notifications = await t.registry.db
    .selectFrom('fhir_notifications')
    .select(['method', 'version_id', 'processed_at'])
    .where('resource_type', '=', resourceType)
    .where('resource_id', '=', fhirId)
    .execute()
  if (notifications.some((notification) => notification.processed_at === null)) return false

  const current = await t.hospital.read(resourceType, fhirId)
  if (current === null)
    return notifications.some((notification) => notification.method === 'DELETE')
  const version = Number(current.meta?.versionId)
  return notifications.some((notification) => (notification.version_id ?? 0) >= version)
}

/** Lists the entity's conflicts, oldest first. */
export async function conflictsOf(
  t: TestRegistry,
  type: EntityType,
  id: string,
): Promise<ConflictRow[]> {
  return conflictRepository.listByEntity(t.registry.db, type, id)
}

/** Lists the entity's audit rows that the merge wrote, oldest first. */
export async function mergeAuditOf(
  t: TestRegistry,
  type: EntityType,
  id: string,
): Promise<AuditRow[]> {
  const rows = await auditRepository.listByEntity(t.registry.db, type, id)
  return rows.filter((row) => row.source === 'fhir-merge')
}

/** Reads the row directly, deleted or not, for what the API does not show. */
export async function rowOf(
  t: TestRegistry,
  type: EntityType,
  id: string,
): Promise<{ deleted_at: Date | null; sync_state: string; fhir_version_id: number | null }> {
  return t.registry.db
    .selectFrom(TABLES[type])
    .select(['deleted_at', 'sync_state', 'fhir_version_id'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
}
