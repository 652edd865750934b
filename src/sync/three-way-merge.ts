import { sameValue } from '../platform/canonical-json.ts'

/** A field that both sides changed differently since the base. */
export interface FieldClash {
  field: string
  base: unknown
  registry: unknown
  fhir: unknown
  /** Side whose value the merge kept: the later writer, or the registry when the writes were too close to order. */
  kept: 'registry' | 'fhir'
  /** `lww-registry` or `lww-fhir` when last-writer-wins settled it; null when it needs a steward. */
  resolution: 'lww-registry' | 'lww-fhir' | null
}

export interface MergeResult<T> {
  merged: T
  clashes: FieldClash[]
  /** True when the merged value differs from the registry's, so the row must be updated. */
  registryChanged: boolean
  /** True when the merged value differs from FHIR's, so a push must follow. */
  fhirBehind: boolean
}

export interface WriteTimes {
  registryUpdatedAt: Date
  fhirUpdatedAt: Date | null
  /** Writes at most this far apart count as concurrent and are not ordered. */
  clockSkewMs: number
}

export interface MergeOptions<T> {
  /** Restores what the registry owns (such as its identifier) in the merged value. */
  keepRegistryOwned?: (registry: T, merged: T) => T
}

/**
 * Merges the FHIR side's fields into the registry's, field by field, against the common base.
 * A field only FHIR changed takes the FHIR value, and a field only the registry changed keeps
 * its value. A field both changed differently goes to the later writer (last-writer-wins),
 * unless the two writes lie within the clock-skew window: then the registry value stays and the
 * clash is left for a steward. A missing base counts as equal to the registry side.
 */
export function mergeThreeWay<T extends Record<string, unknown>>(
  base: T | null,
  registry: T,
  fhir: T,
  times: WriteTimes,
  options: MergeOptions<T> = {},
): MergeResult<T> {
  const merged: Record<string, unknown> = { ...registry }
  const clashes: FieldClash[] = []
  const ancestor = base ?? registry

  for (const field of Object.keys(registry)) {
    const baseValue = ancestor[field]
    const registryValue = registry[field]
    const fhirValue = fhir[field]
    const registryMoved = !sameValue(baseValue, registryValue)
    const fhirMoved = !sameValue(baseValue, fhirValue)

    if (!fhirMoved || sameValue(registryValue, fhirValue)) continue
    if (!registryMoved) {
      merged[field] = fhirValue
      continue
    }

    const winner = laterWriter(times)
    if (winner === 'fhir') merged[field] = fhirValue
    let resolution: FieldClash['resolution'] = null
    if (winner === 'fhir') resolution = 'lww-fhir'
    if (winner === 'registry') resolution = 'lww-registry'
    clashes.push({
      field,
      base: baseValue,
      registry: registryValue,
      fhir: fhirValue,
      kept: winner ?? 'registry',
      resolution,
    })
  }

  const result = options.keepRegistryOwned
    ? options.keepRegistryOwned(registry, merged as T)
    : (merged as T)
  return {
    merged: result,
    clashes,
    registryChanged: !sameValue(result, registry),
    fhirBehind: !sameValue(result, fhir),
  }
}

function laterWriter(times: WriteTimes): 'registry' | 'fhir' | null {
  if (times.fhirUpdatedAt === null) return 'registry'
  const gapMs = times.fhirUpdatedAt.getTime() - times.registryUpdatedAt.getTime()
  if (Math.abs(gapMs) <= times.clockSkewMs) return null
  return gapMs > 0 ? 'fhir' : 'registry'
}
