import type { Subscription } from '@medplum/fhirtypes'
import type { Logger } from '../platform/logger.ts'
import { SYNCED_RESOURCE_TYPES, type SyncedResourceType } from '../platform/sync-modes.ts'
import { FHIR_JSON, SEND_DELETE_MESSAGES_EXTENSION } from './constants.ts'
import { FhirRequestError, type FhirClient } from './fhir-client.ts'

export interface SubscriptionSettings {
  /** Prefix of the Subscription ids, so several registries can share one HAPI. */
  idPrefix: string
  /** Rest-hook endpoint; HAPI appends `/{type}/{id}`. */
  endpoint: string
  secret: string
  /** How long to wait for HAPI to activate a Subscription, in milliseconds. */
  activationTimeoutMs?: number
}

/** Id of the registry's Subscription for one resource type. */
export function subscriptionId(idPrefix: string, type: SyncedResourceType): string {
  return `${idPrefix}-${type.toLowerCase()}`
}

function subscriptionFor(type: SyncedResourceType, settings: SubscriptionSettings): Subscription {
  return {
    resourceType: 'Subscription',
    id: subscriptionId(settings.idPrefix, type),
    status: 'requested',
    reason: `Brain Registry keeps its ${type} records in step with this server`,
    // HAPI rejects a bare type as criteria; `Type?` matches every resource of the type.
    criteria: `${type}?`,
    channel: {
      type: 'rest-hook',
      endpoint: settings.endpoint,
      payload: FHIR_JSON,
      // Sent verbatim on every delivery; a header keeps the secret out of URLs and access logs.
      header: [`Authorization: Bearer ${settings.secret}`],
      extension: [{ url: SEND_DELETE_MESSAGES_EXTENSION, valueBoolean: true }],
    },
  }
}

function sameSubscription(a: Subscription, b: Subscription): boolean {
  return (
    a.criteria === b.criteria &&
    a.channel.endpoint === b.channel.endpoint &&
    a.channel.payload === b.channel.payload &&
    JSON.stringify(a.channel.header ?? []) === JSON.stringify(b.channel.header ?? []) &&
    JSON.stringify(a.channel.extension ?? []) === JSON.stringify(b.channel.extension ?? [])
  )
}

/**
 * Creates or updates the registry's Subscriptions for `types` and waits until HAPI reports them
 * active. HAPI activates a requested Subscription asynchronously, within a few seconds; one that
 * stays requested means rest-hook delivery is switched off there. The registry's Subscriptions of
 * the other synced types are deleted, so a type switched to polling or to the registry-to-FHIR
 * direction stops receiving deliveries.
 */
export async function ensureSubscriptions(
  fhir: FhirClient,
  settings: SubscriptionSettings,
  types: readonly SyncedResourceType[],
  logger: Logger,
): Promise<string[]> {
  const ids: string[] = []
  for (const type of SYNCED_RESOURCE_TYPES.filter((synced) => !types.includes(synced))) {
    const id = subscriptionId(settings.idPrefix, type)
    if (await fhir.read<Subscription>('Subscription', id)) {
      await deleteSubscription(fhir, id)
      logger.info('Subscription deleted; its type is not subscription-driven', {
        subscription: `Subscription/${id}`,
      })
    }
  }
  for (const type of types) {
    const wanted = subscriptionFor(type, settings)
    const id = wanted.id ?? ''
    const existing = await fhir.read<Subscription>('Subscription', id)
    if (existing?.status === 'active' && sameSubscription(existing, wanted)) {
      logger.info('Subscription already active', { subscription: `Subscription/${id}` })
    } else {
      await fhir.update(wanted)
      await waitUntilActive(fhir, id, settings.activationTimeoutMs ?? 60_000)
      logger.info('Subscription active', {
        subscription: `Subscription/${id}`,
        endpoint: settings.endpoint,
      })
    }
    ids.push(id)
  }
  return ids
}

async function waitUntilActive(fhir: FhirClient, id: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const current = await fhir.read<Subscription>('Subscription', id)
    if (current?.status === 'active') return
    if (current?.status === 'error') {
      throw new Error(`HAPI put Subscription/${id} in error: ${current.error ?? 'no reason given'}`)
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Subscription/${id} is still ${current?.status ?? 'missing'} after ${timeoutMs} ms; is rest-hook delivery enabled on HAPI?`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

/** Attempts at deleting one Subscription while HAPI reports a concurrent change of it. */
const DELETE_ATTEMPTS = 5

/** Deletes the registry's Subscriptions; tests call it so HAPI stops calling a closed port. */
export async function deleteSubscriptions(fhir: FhirClient, idPrefix: string): Promise<void> {
  for (const type of SYNCED_RESOURCE_TYPES) {
    await deleteSubscription(fhir, subscriptionId(idPrefix, type))
  }
}

/** State of one of the registry's Subscriptions on HAPI, for the sync status. */
export interface SubscriptionStatus {
  resourceType: SyncedResourceType
  id: string
  /** HAPI's `Subscription.status`, or `absent` when the Subscription does not exist. */
  status: string
  error: string | null
  endpoint: string | null
}

/** Reads the registry's Subscription of each synced type from HAPI. */
export async function readSubscriptionStatuses(
  fhir: FhirClient,
  idPrefix: string,
): Promise<SubscriptionStatus[]> {
  const statuses: SubscriptionStatus[] = []
  for (const type of SYNCED_RESOURCE_TYPES) {
    const id = subscriptionId(idPrefix, type)
    const subscription = await fhir.read<Subscription>('Subscription', id)
    statuses.push({
      resourceType: type,
      id,
      status: subscription?.status ?? 'absent',
      error: subscription?.error ?? null,
      endpoint: subscription?.channel.endpoint ?? null,
    })
  }
  return statuses
}

/**
 * Deletes one Subscription. HAPI 8.8 returns 409 when its own subscription processing changes
 * the resource at the same moment, so the delete is tried again after a short pause.
 */
export async function deleteSubscription(fhir: FhirClient, id: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fhir.delete('Subscription', id)
      return
    } catch (error) {
      if (!(error instanceof FhirRequestError && error.isVersionConflict)) throw error
      if (attempt >= DELETE_ATTEMPTS) throw error
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt))
    }
  }
}

/**
 * Deletes the Subscriptions whose ids start with `idStart`, except those of the registries named
 * in `keepPrefixes`, and returns how many it deleted. Tests use it to remove what a failed or
 * killed run left on HAPI, because HAPI keeps retrying deliveries to the closed ports.
 */
export async function deleteSubscriptionsExcept(
  fhir: FhirClient,
  idStart: string,
  keepPrefixes: ReadonlySet<string>,
): Promise<number> {
  const subscriptions = await fhir.searchAll<Subscription>('Subscription', {
    _elements: 'id',
    _count: '200',
  })
  let deleted = 0
  for (const { id = '' } of subscriptions) {
    const prefix = id.replace(/-(patient|condition)$/, '')
    if (!id.startsWith(idStart) || keepPrefixes.has(prefix)) continue
    await deleteSubscription(fhir, id)
    deleted++
  }
  return deleted
}
