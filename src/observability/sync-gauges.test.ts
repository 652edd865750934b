import { Registry } from 'prom-client'
import { describe, expect, it, vi } from 'vitest'
import type { Logger } from '../platform/logger.ts'
import { registerSyncGauges } from './sync-gauges.ts'
import type { SyncSnapshot } from './sync-snapshot.ts'

const READ_AT = new Date('2026-03-01T12:00:00Z')

function secondsBefore(seconds: number): Date {
  return new Date(READ_AT.getTime() - seconds * 1000)
}

function snapshot(overrides: Partial<SyncSnapshot> = {}): SyncSnapshot {
  return {
    readAt: READ_AT,
    queues: {
      'fhir-push': { ready: 3, deferred: 2, active: 1, oldestReadyAt: secondsBefore(42) },
      'fhir-merge': { ready: 0, deferred: 0, active: 0, oldestReadyAt: null },
      'sync-drift': { ready: 0, deferred: 1, active: 0, oldestReadyAt: null },
    },
    deadLetters: { 'fhir-push-dead': 4, 'fhir-merge-dead': 0, 'sync-drift-dead': 0 },
    rows: {
      patient: { pending: 5, conflict: 1, failed: 2, oldestPendingAt: secondsBefore(90) },
      condition: { pending: 0, conflict: 0, failed: 0, oldestPendingAt: null },
    },
    inbox: { unprocessed: 7, parked: 2, oldestUnprocessedAt: secondsBefore(15) },
    openConflicts: { patient: 3, condition: 0 },
    lastDriftRuns: {
      'catch-up': { finishedAt: secondsBefore(60), counts: { read: 10 } },
      verification: {
        finishedAt: secondsBefore(3600),
        counts: { checked: 100, findings: 3, diverged: 2, unsynced: 1 },
      },
    },
    ...overrides,
  }
}

function silentLogger(warn: Logger['warn'] = vi.fn()): Logger {
  const logger: Logger = {
    error: vi.fn(),
    warn,
    info: vi.fn(),
    debug: vi.fn(),
    child: () => logger,
  }
  return logger
}

/** Returns the sample lines of the text format, without HELP and TYPE lines. */
function samples(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#'))
}

describe('registerSyncGauges', () => {
  it('renders queue depths per queue and state', async () => {
    const registry = new Registry()
    registerSyncGauges(registry, () => Promise.resolve(snapshot()), silentLogger())

    const lines = samples(await registry.metrics())

    expect(lines).toContain('brain_registry_queue_jobs{queue="fhir-push",state="ready"} 3')
    expect(lines).toContain('brain_registry_queue_jobs{queue="fhir-push",state="deferred"} 2')
    expect(lines).toContain('brain_registry_queue_jobs{queue="fhir-push",state="active"} 1')
    expect(lines).toContain('brain_registry_queue_jobs{queue="sync-drift",state="deferred"} 1')
    expect(lines).toContain('brain_registry_dead_letter_jobs{queue="fhir-push-dead"} 4')
    expect(lines).toContain(
      'brain_registry_queue_oldest_ready_job_age_seconds{queue="fhir-push"} 42',
    )
    expect(lines).toContain(
      'brain_registry_queue_oldest_ready_job_age_seconds{queue="fhir-merge"} 0',
    )
  })

  it('renders rows, lag, notifications and conflicts', async () => {
    const registry = new Registry()
    registerSyncGauges(registry, () => Promise.resolve(snapshot()), silentLogger())

    const lines = samples(await registry.metrics())

    expect(lines).toContain('brain_registry_sync_rows{entity_type="patient",sync_state="failed"} 2')
    expect(lines).toContain(
      'brain_registry_sync_rows{entity_type="patient",sync_state="pending"} 5',
    )
    expect(lines).toContain(
      'brain_registry_oldest_pending_row_age_seconds{entity_type="patient"} 90',
    )
    expect(lines).toContain(
      'brain_registry_oldest_pending_row_age_seconds{entity_type="condition"} 0',
    )
    expect(lines).toContain('brain_registry_unprocessed_notifications 7')
    expect(lines).toContain('brain_registry_parked_notifications 2')
    expect(lines).toContain('brain_registry_oldest_unprocessed_notification_age_seconds 15')
    expect(lines).toContain('brain_registry_open_conflicts{entity_type="patient"} 3')
    expect(lines).toContain('brain_registry_open_conflicts{entity_type="condition"} 0')
    expect(lines).toContain('brain_registry_sync_metrics_up 1')
  })

  it('renders findings of the last verification per kind', async () => {
    const registry = new Registry()
    registerSyncGauges(registry, () => Promise.resolve(snapshot()), silentLogger())

    const lines = samples(await registry.metrics())

    expect(lines).toContain('brain_registry_drift_findings{finding_kind="diverged"} 2')
    expect(lines).toContain('brain_registry_drift_findings{finding_kind="unsynced"} 1')
    expect(lines).toContain('brain_registry_drift_findings{finding_kind="missed-change"} 0')
    expect(lines).toContain(
      `brain_registry_drift_last_finished_timestamp_seconds{kind="verification"} ${String(secondsBefore(3600).getTime() / 1000)}`,
    )
  })

  it('leaves findings out before any verification finished', async () => {
    const registry = new Registry()
    const read = () =>
      Promise.resolve(snapshot({ lastDriftRuns: { 'catch-up': null, verification: null } }))
    registerSyncGauges(registry, read, silentLogger())

    const text = await registry.metrics()

    expect(text).not.toContain('brain_registry_drift_findings{')
    expect(text).not.toContain('brain_registry_drift_last_finished_timestamp_seconds{')
  })

  it('reads the database once per scrape', async () => {
    const registry = new Registry()
    const read = vi.fn(() => Promise.resolve(snapshot()))
    registerSyncGauges(registry, read, silentLogger())

    await registry.metrics()
    expect(read).toHaveBeenCalledTimes(1)
    await registry.metrics()
    expect(read).toHaveBeenCalledTimes(2)
  })

  it('drops stale label sets at the next scrape', async () => {
    const registry = new Registry()
    const read = vi
      .fn<() => Promise<SyncSnapshot>>()
      .mockResolvedValueOnce(snapshot())
      .mockResolvedValueOnce(snapshot({ lastDriftRuns: { 'catch-up': null, verification: null } }))
    registerSyncGauges(registry, read, silentLogger())

    await registry.metrics()
    const second = await registry.metrics()

    expect(second).not.toContain('brain_registry_drift_findings{')
  })

  it('reports a failed read as down and logs it once', async () => {
    const registry = new Registry()
    const warn = vi.fn()
    const logger = silentLogger(warn)
    registerSyncGauges(registry, () => Promise.reject(new Error('connection refused')), logger)

    const text = await registry.metrics()
    await registry.metrics()

    expect(samples(text)).toEqual(['brain_registry_sync_metrics_up 0'])
    expect(warn).toHaveBeenCalledTimes(1)
  })
})
