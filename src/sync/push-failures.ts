import { FhirRequestError } from '../fhir/fhir-client.ts'
import { PushBlockedError } from './outbound-push.ts'

/** Wait before the second try of a push, in seconds; each later try waits twice as long. */
const FIRST_RETRY_DELAY_SECONDS = 2

/** Maximum wait between two tries of a push, in seconds, whatever the backoff or Retry-After. */
export const MAX_RETRY_DELAY_SECONDS = 600

/** Decision on a push that failed: another try after a delay, or the dead letters. */
export type PushFailure =
  { kind: 'retry'; delaySeconds: number; reason: string } | { kind: 'dead'; reason: string }

/**
 * Returns the wait before try `attempt + 1` of a push after try `attempt` failed: exponential
 * backoff from 2 s, capped at 10 minutes, with the upper half drawn at random (`random` returns a
 * number in [0, 1)). The jitter spreads the retries of many rows that failed together, as when
 * HAPI restarts, so they do not all return at the same second.
 */
export function pushRetryDelaySeconds(attempt: number, random: () => number): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 20)
  const ceiling = Math.min(MAX_RETRY_DELAY_SECONDS, FIRST_RETRY_DELAY_SECONDS * 2 ** exponent)
  return Math.max(1, Math.round(ceiling / 2 + (ceiling / 2) * random()))
}

/**
 * Decides between another try and the dead letters for a push that failed on try `attempt`.
 * Network failures, timeouts, 408, 429 and 5xx are retried, waiting as long as a Retry-After
 * header requests (within the cap) or else by the backoff. Other 4xx responses will not change on
 * retry, and neither will a FHIR resource older than the registry's record, so those go to the
 * dead letters at once. Errors of unknown kind are retried, since most are passing (a database
 * failover, a lost connection).
 */
export function classifyPushFailure(
  error: unknown,
  attempt: number,
  retryLimit: number,
  random: () => number,
): PushFailure {
  const reason = error instanceof Error ? error.message : String(error)
  if (error instanceof PushBlockedError) return { kind: 'dead', reason }
  if (error instanceof FhirRequestError && !error.retryable) return { kind: 'dead', reason }
  if (attempt >= retryLimit) {
    return { kind: 'dead', reason: `${reason} (gave up after ${String(attempt)} tries)` }
  }

  const retryAfter = error instanceof FhirRequestError ? error.retryAfterSeconds : null
  const delaySeconds =
    retryAfter === null
      ? pushRetryDelaySeconds(attempt, random)
      : Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(1, retryAfter))
  return { kind: 'retry', delaySeconds, reason }
}
