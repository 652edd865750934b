/** Resource types the registry keeps in step with FHIR. */
export const SYNCED_RESOURCE_TYPES = ['Patient', 'Condition'] as const

export type SyncedResourceType = (typeof SYNCED_RESOURCE_TYPES)[number]

/**
 * Directions in which changes of one resource type flow: both ways, only from the registry to
 * FHIR (FHIR edits are overwritten by the next push), or only from FHIR to the registry (the API
 * rejects writes of that type).
 */
export const SYNC_DIRECTIONS = ['two-way', 'to-fhir', 'from-fhir'] as const

export type SyncDirection = (typeof SYNC_DIRECTIONS)[number]

/**
 * Sources of FHIR changes: rest-hook Subscriptions, with the drift catch-up behind them, or the
 * drift catch-up alone, for FHIR servers without working Subscriptions.
 */
export const SYNC_TRIGGERS = ['subscription', 'polling'] as const

export type SyncTrigger = (typeof SYNC_TRIGGERS)[number]

export interface SyncMode {
  direction: SyncDirection
  trigger: SyncTrigger
}

export type SyncModes = Readonly<Record<SyncedResourceType, Readonly<SyncMode>>>

/** True when FHIR changes of this type are merged into the registry. */
export function pullsFromFhir(mode: SyncMode): boolean {
  return mode.direction !== 'to-fhir'
}

/** True when registry changes of this type are pushed to FHIR. */
export function pushesToFhir(mode: SyncMode): boolean {
  return mode.direction !== 'from-fhir'
}

/** True when this type needs a rest-hook Subscription on HAPI. */
export function usesSubscription(mode: SyncMode): boolean {
  return pullsFromFhir(mode) && mode.trigger === 'subscription'
}

/**
 * Parses `Type=value` entries separated by commas, such as `Condition=to-fhir`, into a value per
 * synced resource type; types not named keep `fallback`. Returns the problems instead of throwing,
 * so the config module can report them with the other variables.
 */
export function parsePerTypeSetting<V extends string>(
  text: string | undefined,
  allowed: readonly V[],
  fallback: V,
): { values: Record<SyncedResourceType, V>; problems: string[] } {
  const values = Object.fromEntries(
    SYNCED_RESOURCE_TYPES.map((type) => [type, fallback]),
  ) as Record<SyncedResourceType, V>
  const problems: string[] = []
  const seen = new Set<string>()
  for (const entry of (text ?? '').split(',')) {
    const trimmed = entry.trim()
    if (trimmed === '') continue
    const [type = '', value = '', ...rest] = trimmed.split('=').map((part) => part.trim())
    if (rest.length > 0 || value === '') {
      problems.push(`"${trimmed}" is not of the form Type=value`)
      continue
    }
    if (!(SYNCED_RESOURCE_TYPES as readonly string[]).includes(type)) {
      problems.push(
        `"${type}" is not a synced resource type; use ${SYNCED_RESOURCE_TYPES.join(' or ')}`,
      )
      continue
    }
    if (!(allowed as readonly string[]).includes(value)) {
      problems.push(`"${value}" for ${type} is not one of ${allowed.join(', ')}`)
      continue
    }
    if (seen.has(type)) {
      problems.push(`${type} is named twice`)
      continue
    }
    seen.add(type)
    values[type as SyncedResourceType] = value as V
  }
  return { values, problems }
}
