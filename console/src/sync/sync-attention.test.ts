import { describe, expect, it } from 'vitest'
import type { DriftRun } from './sync-api.ts'
import {
  deadLetterAttention,
  driftRunAttention,
  inboxAttention,
  queueAttention,
  rowAttention,
  subscriptionAttention,
} from './sync-attention.ts'

const idleQueue = { ready: 0, deferred: 0, active: 0, oldestReadyAgeSeconds: null }
const cleanRows = { pending: 0, conflict: 0, failed: 0, oldestPendingAgeSeconds: null }

function run(fields: Partial<DriftRun>): DriftRun {
  return {
    id: '3f0c8f0e-0000-4000-8000-000000000001',
    kind: 'verification',
    status: 'finished',
    requestedBy: 'api',
    createdAt: '2026-12-05T10:00:00.000Z',
    startedAt: '2026-12-05T10:00:00.000Z',
    finishedAt: '2026-12-05T10:00:01.000Z',
    cursorFrom: null,
    cursorTo: null,
    counts: {},
    error: null,
    ...fields,
  }
}

describe('queueAttention', () => {
  it('is ok for idle and fresh queues', () => {
    expect(queueAttention('push', idleQueue).level).toBe('ok')
    expect(
      queueAttention('push', { ...idleQueue, ready: 40, oldestReadyAgeSeconds: 2 }).level,
    ).toBe('ok')
  })

  it('warns about retries and lag, and calls a five-minute wait stalled', () => {
    expect(queueAttention('push', { ...idleQueue, deferred: 1 })).toEqual({
      level: 'warn',
      text: 'Retrying',
    })
    expect(
      queueAttention('merge', { ...idleQueue, ready: 1, oldestReadyAgeSeconds: 60 }).level,
    ).toBe('warn')
    expect(queueAttention('drift', { ...idleQueue, ready: 1, oldestReadyAgeSeconds: 300 })).toEqual(
      {
        level: 'danger',
        text: 'Stalled',
      },
    )
  })

  it('ignores deferred merge and drift jobs', () => {
    expect(queueAttention('merge', { ...idleQueue, deferred: 3 }).level).toBe('ok')
    expect(queueAttention('drift', { ...idleQueue, deferred: 1 }).level).toBe('ok')
  })
})

describe('deadLetterAttention', () => {
  it('is danger for any dead letter', () => {
    expect(deadLetterAttention(0).level).toBe('ok')
    expect(deadLetterAttention(1).level).toBe('danger')
  })
})

describe('rowAttention', () => {
  it('puts failed rows before conflicts and old pending rows', () => {
    expect(rowAttention({ ...cleanRows, failed: 1, conflict: 2 }).level).toBe('danger')
    expect(rowAttention({ ...cleanRows, conflict: 2 })).toEqual({
      level: 'warn',
      text: 'Open conflicts',
    })
    expect(rowAttention({ ...cleanRows, pending: 1, oldestPendingAgeSeconds: 125 }).text).toBe(
      'Pending too long',
    )
  })

  it('is ok for rows pending a short while', () => {
    expect(rowAttention({ ...cleanRows, pending: 3, oldestPendingAgeSeconds: 4 }).level).toBe('ok')
  })
})

describe('inboxAttention', () => {
  it('warns about parked and old deliveries', () => {
    expect(inboxAttention({ parked: 0, oldestUnprocessedAgeSeconds: null }).level).toBe('ok')
    expect(inboxAttention({ parked: 2, oldestUnprocessedAgeSeconds: 5 }).level).toBe('warn')
    expect(inboxAttention({ parked: 0, oldestUnprocessedAgeSeconds: 600 }).level).toBe('warn')
  })
})

describe('subscriptionAttention', () => {
  it('is ok only for active and names any other status', () => {
    expect(subscriptionAttention('active').level).toBe('ok')
    expect(subscriptionAttention('error')).toEqual({ level: 'danger', text: 'error' })
    expect(subscriptionAttention('absent').level).toBe('danger')
  })
})

describe('driftRunAttention', () => {
  it('rates a run by its status and findings', () => {
    expect(driftRunAttention(run({ status: 'failed' }))?.level).toBe('danger')
    expect(driftRunAttention(run({ counts: { findings: 2 } }))?.level).toBe('warn')
    expect(driftRunAttention(run({ counts: { findings: 0 } }))?.level).toBe('ok')
    expect(driftRunAttention(run({ status: 'running', finishedAt: null }))).toBeNull()
  })
})
