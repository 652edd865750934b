import { describe, expect, it } from 'vitest'
import { judgeQueueLag } from './queue-lag.ts'

describe('judgeQueueLag', () => {
  it('is ready when no job waits', () => {
    const verdict = judgeQueueLag({ 'fhir-push': null, 'fhir-merge': null }, 300)

    expect(verdict).toEqual({ ready: true, oldestReadyAgeSeconds: null })
  })

  it('is ready at the threshold', () => {
    const verdict = judgeQueueLag({ 'fhir-push': 300, 'fhir-merge': 12 }, 300)

    expect(verdict.ready).toBe(true)
    expect(verdict.oldestReadyAgeSeconds).toBe(300)
  })

  it('is not ready over the threshold', () => {
    const verdict = judgeQueueLag({ 'fhir-push': 5, 'fhir-merge': 301 }, 300)

    expect(verdict.ready).toBe(false)
    expect(verdict.oldestReadyAgeSeconds).toBe(301)
    expect(verdict.error).toContain('fhir-merge 301 s')
    expect(verdict.error).not.toContain('fhir-push')
  })
})
