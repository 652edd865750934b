/**
 * Plain FHIR clients the push engine is measured against: they write the same resources, built
 * from the registry's rows with the registry's own mapping, under fresh ids, with no database
 * work, version checks or retries around the requests.
 */
import type {
  Bundle,
  Condition as FhirCondition,
  Patient as FhirPatient,
  Resource,
} from '@medplum/fhirtypes'
import type { Registry } from '../../src/app.ts'
import { conditionFieldsOf } from '../../src/conditions/condition.repository.ts'
import { conditionResourceFromFields } from '../../src/fhir/condition-mapping.ts'
import { patientResourceFromFields } from '../../src/fhir/patient-mapping.ts'
import { patientFieldsOf } from '../../src/patients/patient.repository.ts'
import { inParallel } from './registry-rows.ts'

/** A patient and its conditions, which must reach HAPI after it. */
export interface ResourceGroup {
  patient: FhirPatient
  conditions: FhirCondition[]
}

const FHIR_JSON = 'application/fhir+json'

/**
 * Builds one group per patient row, in creation order, with new ids so every write is a create.
 * Each resource carries the registry's `meta.source`, as the engine's writes do.
 */
export async function resourceGroups(registry: Registry): Promise<ResourceGroup[]> {
  const source = registry.config.FHIR_SOURCE_URI
  const patients = await registry.db
    .selectFrom('patients')
    .selectAll()
    .orderBy('created_at')
    .orderBy('id')
    .execute()
  const conditions = await registry.db
    .selectFrom('conditions')
    .selectAll()
    .orderBy('created_at')
    .orderBy('id')
    .execute()
  const groups = new Map<string, ResourceGroup>()
  for (const row of patients) {
    const patient = patientResourceFromFields(crypto.randomUUID(), patientFieldsOf(row))
    groups.set(row.id, { patient: { ...patient, meta: { source } }, conditions: [] })
  }
  for (const row of conditions) {
    const group = groups.get(row.patient_id)
    if (!group) continue
    const condition = conditionResourceFromFields(
      crypto.randomUUID(),
      group.patient.id ?? '',
      conditionFieldsOf(row),
    )
    group.conditions.push({ ...condition, meta: { source } })
  }
  return [...groups.values()]
}

export function changesOf(groups: readonly ResourceGroup[]): number {
  return groups.reduce((sum, group) => sum + 1 + group.conditions.length, 0)
}

async function send(url: string, method: string, body: Resource): Promise<void> {
  const response = await fetch(url, {
    method,
    headers: {
      Accept: FHIR_JSON,
      'Content-Type': `${FHIR_JSON}; charset=utf-8`,
      Prefer: 'return=representation',
    },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  if (!response.ok) {
    throw new Error(`${method} ${url} returned ${String(response.status)}: ${text.slice(0, 300)}`)
  }
}

async function putGroup(baseUrl: string, group: ResourceGroup): Promise<void> {
  for (const resource of [group.patient, ...group.conditions]) {
    await send(`${baseUrl}/${resource.resourceType}/${resource.id ?? ''}`, 'PUT', resource)
  }
}

/** Writes the groups with one PUT per resource, one at a time; returns the seconds taken. */
export async function naiveClient(baseUrl: string, groups: readonly ResourceGroup[]) {
  const started = performance.now()
  for (const group of groups) await putGroup(baseUrl, group)
  return (performance.now() - started) / 1000
}

/**
 * Writes the groups with one PUT per resource and `parallel` requests in flight: each of `parallel` lanes writes one
 * patient and then its conditions, because HAPI rejects a Condition whose subject does not exist.
 */
export async function concurrentClient(
  baseUrl: string,
  groups: readonly ResourceGroup[],
  parallel: number,
) {
  const started = performance.now()
  await inParallel(groups.length, parallel, async (index) => {
    const group = groups[index]
    if (group) await putGroup(baseUrl, group)
  })
  return (performance.now() - started) / 1000
}

/**
 * Splits the groups into transaction Bundles of at most `batchSize` entries (at least one group
 * each, a group never split, so a Condition travels with its Patient).
 */
export function bundlesOf(groups: readonly ResourceGroup[], batchSize: number): Bundle[] {
  const bundles: Bundle[] = []
  let entries: Resource[] = []
  const flush = () => {
    if (entries.length === 0) return
    bundles.push({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: entries.map((resource) => ({
        resource,
        request: { method: 'PUT', url: `${resource.resourceType}/${resource.id ?? ''}` },
      })),
    })
    entries = []
  }
  for (const group of groups) {
    const resources = [group.patient, ...group.conditions]
    if (entries.length > 0 && entries.length + resources.length > batchSize) flush()
    entries.push(...resources)
  }
  flush()
  return bundles
}

/** Posts the Bundles, `parallel` at a time; returns the seconds taken. */
export async function bundleClient(baseUrl: string, bundles: readonly Bundle[], parallel: number) {
  const started = performance.now()
  await inParallel(bundles.length, parallel, async (index) => {
    const bundle = bundles[index]
    if (bundle) await send(baseUrl, 'POST', bundle)
  })
  return (performance.now() - started) / 1000
}
