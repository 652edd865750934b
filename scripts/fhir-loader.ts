import { readdir, readFile, stat } from 'node:fs/promises'
import { extname, join } from 'node:path'
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes'
import type { FhirClient } from '../src/fhir/fhir-client.ts'

/** Resources sent per transaction when loading single resources or NDJSON. */
const RESOURCES_PER_TRANSACTION = 50

export interface LoadProgress {
  total: number
  done: number
}

export interface LoadResult {
  /** Transaction Bundles posted to HAPI. */
  transactions: number
  /** Resources written, by type. */
  written: Record<string, number>
  /** `Patient/<id>` of every Patient written, as HAPI stored it. */
  patientIds: string[]
  /** Conditions written, as sent, for enrolment checks. */
  conditions: Resource[]
  durationMs: number
}

/** One unit of loading: a transaction Bundle ready to post. */
interface LoadBatch {
  bundle: Bundle
}

/**
 * Lists the files of a load: a file as it is, or the `.json` and `.ndjson` files of a folder,
 * sorted by name.
 */
async function filesOf(path: string): Promise<string[]> {
  const info = await stat(path)
  if (info.isFile()) return [path]
  const names = (await readdir(path))
    .filter((name) => ['.json', '.ndjson'].includes(extname(name)))
    .sort()
  return names.map((name) => join(path, name))
}

function putEntry(resource: Resource): BundleEntry {
  return {
    fullUrl: `${resource.resourceType}/${resource.id ?? ''}`,
    resource,
    request: { method: 'PUT', url: `${resource.resourceType}/${resource.id ?? ''}` },
  }
}

/**
 * Drops a Condition's encounter reference: bulk exports and single example files carry
 * Conditions whose Encounters are not part of the load, and HAPI enforces referential integrity.
 */
function withoutEncounter(resource: Resource): Resource {
  if (resource.resourceType !== 'Condition' || !('encounter' in resource)) return resource
  const copy = { ...resource }
  delete copy.encounter
  return copy
}

function transactionsOf(resources: Resource[]): LoadBatch[] {
  // Patients go first so that every Condition's subject exists when the Condition arrives.
  const ordered = [
    ...resources.filter((resource) => resource.resourceType === 'Patient'),
    ...resources.filter((resource) => resource.resourceType !== 'Patient'),
  ]
  const batches: LoadBatch[] = []
  for (let start = 0; start < ordered.length; start += RESOURCES_PER_TRANSACTION) {
    const entry = ordered
      .slice(start, start + RESOURCES_PER_TRANSACTION)
      .map((resource) => putEntry(withoutEncounter(resource)))
    batches.push({ bundle: { resourceType: 'Bundle', type: 'transaction', entry } })
  }
  return batches
}

/**
 * Reads what a load sends: transaction or batch Bundles are posted as they are; a collection or
 * search Bundle, single resource files and NDJSON lines become PUT transactions of the types
 * in `types` (resources need an id then).
 */
export async function readLoad(
  paths: readonly string[],
  types: ReadonlySet<string>,
): Promise<LoadBatch[]> {
  const batches: LoadBatch[] = []
  const loose: Resource[] = []
  for (const path of paths) {
    for (const file of await filesOf(path)) {
      const text = await readFile(file, 'utf8')
      if (file.endsWith('.ndjson')) {
        for (const line of text.split('\n')) {
          if (line.trim() === '') continue
          const resource = JSON.parse(line) as Resource
          if (types.has(resource.resourceType)) loose.push(resource)
        }
        continue
      }
      const resource = JSON.parse(text) as Resource
      if (
        resource.resourceType === 'Bundle' &&
        (resource.type === 'transaction' || resource.type === 'batch')
      ) {
        batches.push({ bundle: resource })
      } else if (resource.resourceType === 'Bundle') {
        for (const entry of resource.entry ?? []) {
          if (entry.resource && types.has(entry.resource.resourceType)) loose.push(entry.resource)
        }
      } else if (types.has(resource.resourceType)) {
        loose.push(resource)
      }
    }
  }
  const missingId = loose.find((resource) => !resource.id)
  if (missingId)
    throw new Error(
      `A ${missingId.resourceType} outside a transaction Bundle has no id to PUT it under`,
    )
  return [...batches, ...transactionsOf(loose)]
}

/** Posts every batch to HAPI, one transaction at a time, reporting progress after each. */
export async function loadBatches(
  fhir: FhirClient,
  batches: readonly LoadBatch[],
  onProgress: (progress: LoadProgress) => void = () => undefined,
): Promise<LoadResult> {
  const started = performance.now()
  const result: LoadResult = {
    transactions: 0,
    written: {},
    patientIds: [],
    conditions: [],
    durationMs: 0,
  }
  const total = batches.reduce((sum, batch) => sum + (batch.bundle.entry?.length ?? 0), 0)
  let done = 0

  for (const batch of batches) {
    const response = await fhir.post<Bundle>('', batch.bundle)
    result.transactions++
    for (const [index, entry] of (batch.bundle.entry ?? []).entries()) {
      const type = entry.resource?.resourceType ?? 'unknown'
      result.written[type] = (result.written[type] ?? 0) + 1
      const location = response.entry?.[index]?.response?.location ?? ''
      if (type === 'Patient')
        result.patientIds.push(
          location.split('/_history')[0]?.replace(/^.*?(Patient\/)/, '$1') ?? '',
        )
      if (type === 'Condition' && entry.resource) result.conditions.push(entry.resource)
    }
    done += batch.bundle.entry?.length ?? 0
    onProgress({ total, done })
  }
  result.durationMs = Math.round(performance.now() - started)
  return result
}
