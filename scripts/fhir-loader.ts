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

/** True for a literal reference (`Type/id`) to a resource that is not part of the load. */
function isDangling(value: unknown, loaded: ReadonlySet<string>): boolean {
  if (typeof value !== 'object' || value === null || !('reference' in value)) return false
  const reference = (value as { reference?: unknown }).reference
  return (
    typeof reference === 'string' &&
    /^[A-Z][A-Za-z]+\/[^/]+$/.test(reference) &&
    !loaded.has(reference)
  )
}

/**
 * Copies a resource without its references to resources outside the load (the Encounters of a
 * bulk export, the Organizations of an example file), because HAPI enforces referential
 * integrity. Returns null when the subject itself is missing, since such a resource cannot load.
 */
export function withoutDanglingReferences(
  resource: Resource,
  loaded: ReadonlySet<string>,
): Resource | null {
  if ('subject' in resource && isDangling(resource.subject, loaded)) return null

  const prune = (value: unknown): unknown => {
    if (Array.isArray(value)) {
      // A Patient.link item is nothing without its required `other`, so it goes as a whole.
      const kept = value.filter(
        (item: unknown) =>
          !isDangling(item, loaded) &&
          !(
            typeof item === 'object' &&
            item !== null &&
            isDangling((item as { other?: unknown }).other, loaded)
          ),
      )
      return kept.map(prune)
    }
    if (typeof value !== 'object' || value === null) return value
    const copy: Record<string, unknown> = {}
    for (const [key, inner] of Object.entries(value)) {
      if (isDangling(inner, loaded)) continue
      const pruned = prune(inner)
      // FHIR forbids empty arrays, so an array left empty goes too.
      if (Array.isArray(pruned) && pruned.length === 0) continue
      copy[key] = pruned
    }
    return copy
  }
  return prune(resource) as Resource
}

function transactionsOf(resources: Resource[]): { batches: LoadBatch[]; skipped: number } {
  const loaded = new Set(
    resources.map((resource) => `${resource.resourceType}/${resource.id ?? ''}`),
  )
  const loadable = resources
    .map((resource) => withoutDanglingReferences(resource, loaded))
    .filter((resource) => resource !== null)
  // Patients go first so that every Condition's subject exists when the Condition arrives.
  const ordered = [
    ...loadable.filter((resource) => resource.resourceType === 'Patient'),
    ...loadable.filter((resource) => resource.resourceType !== 'Patient'),
  ]
  const batches: LoadBatch[] = []
  for (let start = 0; start < ordered.length; start += RESOURCES_PER_TRANSACTION) {
    const entry = ordered.slice(start, start + RESOURCES_PER_TRANSACTION).map(putEntry)
    batches.push({ bundle: { resourceType: 'Bundle', type: 'transaction', entry } })
  }
  return { batches, skipped: resources.length - loadable.length }
}

/**
 * Reads what a load sends. Transaction and batch Bundles are posted as they are. Collection and
 * search Bundles, single resource files and NDJSON lines become PUT transactions of the types
 * in `types`, so those resources need an id.
 */
export async function readLoad(
  paths: readonly string[],
  types: ReadonlySet<string>,
  options: { onSkipped?: (count: number) => void } = {},
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
  const converted = transactionsOf(loose)
  if (converted.skipped > 0) options.onSkipped?.(converted.skipped)
  return [...batches, ...converted.batches]
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
