import { describe, expect, it } from 'vitest'
import { FhirRequestError } from '../fhir/fhir-client.ts'
import { PushBlockedError } from './outbound-push.ts'
import {
  MAX_RETRY_DELAY_SECONDS,
  classifyPushFailure,
  pushRetryDelaySeconds,
} from './push-failures.ts'

const LOWEST = () => 0
const HIGHEST = () => 0.999_999

function fhirError(status: number, retryAfterSeconds: number | null = null): FhirRequestError {
  return new FhirRequestError('PUT', 'http://hapi.test/fhir/Patient/p1', status, [], {
    retryAfterSeconds,
  })
}

describe('pushRetryDelaySeconds', () => {
  it.each([
    [1, 1, 2],
    [2, 2, 4],
    [3, 4, 8],
    [6, 32, 64],
  ])('waits between the bounds after try %i', (attempt, lowest, highest) => {
    expect(pushRetryDelaySeconds(attempt, LOWEST)).toBe(lowest)
    expect(pushRetryDelaySeconds(attempt, HIGHEST)).toBe(highest)
  })

  it('never waits longer than the cap', () => {
    expect(pushRetryDelaySeconds(40, HIGHEST)).toBe(MAX_RETRY_DELAY_SECONDS)
  })

  it('spreads the waits of rows that failed together', () => {
    let seed = 1
    const random = () => {
      seed = (seed * 16_807) % 2_147_483_647
      return seed / 2_147_483_647
    }
    const delays = new Set(Array.from({ length: 50 }, () => pushRetryDelaySeconds(6, random)))

    expect(delays.size).toBeGreaterThan(10)
  })
})

describe('classifyPushFailure', () => {
  it.each([0, 500, 502, 503, 408, 429])('retries status %i', (status) => {
    expect(classifyPushFailure(fhirError(status), 1, 8, LOWEST).kind).toBe('retry')
  })

  it.each([400, 401, 403, 404, 422])('sends status %i to the dead letters at once', (status) => {
    expect(classifyPushFailure(fhirError(status), 1, 8, LOWEST).kind).toBe('dead')
  })

  it('sends a blocked push to the dead letters at once', () => {
    const failure = classifyPushFailure(new PushBlockedError('older in FHIR'), 1, 8, LOWEST)

    expect(failure.kind).toBe('dead')
  })

  it('waits as long as Retry-After requests', () => {
    const failure = classifyPushFailure(fhirError(429, 45), 1, 8, LOWEST)

    expect(failure).toMatchObject({ kind: 'retry', delaySeconds: 45 })
  })

  it('caps a long Retry-After', () => {
    const failure = classifyPushFailure(fhirError(503, 86_400), 1, 8, LOWEST)

    expect(failure).toMatchObject({ kind: 'retry', delaySeconds: MAX_RETRY_DELAY_SECONDS })
  })

  it('gives up after the last try', () => {
    const failure = classifyPushFailure(fhirError(503), 8, 8, LOWEST)

    expect(failure.kind).toBe('dead')
    expect(failure.reason).toContain('8 tries')
  })

  it('retries an error of unknown kind', () => {
    expect(classifyPushFailure(new Error('connection reset'), 3, 8, LOWEST).kind).toBe('retry')
  })
})
