import type { Subscription } from '@medplum/fhirtypes'
import type { Logger } from '../platform/logger.ts'
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

const SYNCED_TYPES = ['Patient', 'Condition'] as const

function subscriptionFor(
  type: (typeof SYNCED_TYPES)[number],
  settings: SubscriptionSettings,
): Subscription {
  return {
    resourceType: 'Subscription',
    id: `${settings.idPrefix}-${type.toLowerCase()}`,
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
 * Creates or updates the registry's Subscriptions (one per synced type) and waits until HAPI
 * reports them active. HAPI activates a requested Subscription asynchronously, within a few
 * seconds; a Subscription that stays requested means rest-hook delivery is switched off there.
 */
export async function ensureSubscriptions(
  fhir: FhirClient,
  settings: SubscriptionSettings,
  logger: Logger,
): Promise<string[]> {
  const ids: string[] = []
  for (const type of SYNCED_TYPES) {
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
  for (const type of SYNCED_TYPES) {
    await deleteSubscription(fhir, `${idPrefix}-${type.toLowerCase()}`)
  }
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
