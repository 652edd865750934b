import { Gauge, type Registry } from 'prom-client'
import { errorFields, type Logger } from '../platform/logger.ts'
import { FINDING_KINDS } from '../sync/drift-classification.ts'
import type { SyncSnapshot } from './sync-snapshot.ts'

type GaugeSpec<L extends string> = { name: string; help: string; labelNames?: readonly L[] }

function ageSeconds(since: Date | null, now: Date): number {
  return since === null ? 0 : Math.max(0, (now.getTime() - since.getTime()) / 1000)
}

/**
 * Registers the gauges that come from the database on `registry`, read at scrape time. Every
 * gauge's collect awaits the same read, and prom-client 15 starts the collects of one scrape
 * together (`Registry.metrics`), so a scrape runs one round of queries. When the read fails, the
 * gauges stay empty and `brain_registry_sync_metrics_up` is 0.
 */
export function registerSyncGauges(
  registry: Registry,
  readSnapshot: () => Promise<SyncSnapshot>,
  logger: Logger,
): void {
  let reading: Promise<void> | undefined
  let lastReadFailed = false
  const collect = (): Promise<void> => {
    reading ??= refresh().finally(() => {
      reading = undefined
    })
    return reading
  }
  const gauges: Gauge[] = []
  const gauge = <L extends string>(spec: GaugeSpec<L>): Gauge<L> => {
    const created = new Gauge<L>({ ...spec, registers: [registry], collect })
    gauges.push(created)
    return created
  }

  const up = gauge({
    name: 'brain_registry_sync_metrics_up',
    help: '1 when the sync figures below were read from the database at this scrape, else 0',
  })
  const queueJobs = gauge({
    name: 'brain_registry_queue_jobs',
    help: 'Jobs of each work queue: ready to start, deferred to a later start (retries), active',
    labelNames: ['queue', 'state'],
  })
  const queueLag = gauge({
    name: 'brain_registry_queue_oldest_ready_job_age_seconds',
    help: 'Seconds since the longest-waiting ready job of each work queue became ready; 0 when none waits',
    labelNames: ['queue'],
  })
  const deadLetters = gauge({
    name: 'brain_registry_dead_letter_jobs',
    help: 'Jobs in each dead-letter queue',
    labelNames: ['queue'],
  })
  const rows = gauge({
    name: 'brain_registry_sync_rows',
    help: 'Registry rows that are not synced, by entity type and sync state (pending, conflict, failed)',
    labelNames: ['entity_type', 'sync_state'],
  })
  const pendingLag = gauge({
    name: 'brain_registry_oldest_pending_row_age_seconds',
    help: 'Seconds since the oldest pending change of each entity type; 0 when none is pending',
    labelNames: ['entity_type'],
  })
  const unprocessed = gauge({
    name: 'brain_registry_unprocessed_notifications',
    help: 'FHIR notifications not merged yet, parked ones included',
  })
  const parked = gauge({
    name: 'brain_registry_parked_notifications',
    help: 'FHIR notifications parked until their subject resolves',
  })
  const notificationLag = gauge({
    name: 'brain_registry_oldest_unprocessed_notification_age_seconds',
    help: 'Seconds since the oldest unprocessed FHIR notification arrived; 0 when none waits',
  })
  const openConflicts = gauge({
    name: 'brain_registry_open_conflicts',
    help: 'Conflicts waiting for a steward, by entity type',
    labelNames: ['entity_type'],
  })
  const findings = gauge({
    name: 'brain_registry_drift_findings',
    help: 'Findings of the last finished drift verification, by finding kind',
    labelNames: ['finding_kind'],
  })
  const driftFinished = gauge({
    name: 'brain_registry_drift_last_finished_timestamp_seconds',
    help: 'Unix time at which the last drift run of each kind finished',
    labelNames: ['kind'],
  })

  const record = (snapshot: SyncSnapshot) => {
    const now = snapshot.readAt
    for (const [queue, depth] of Object.entries(snapshot.queues)) {
      queueJobs.set({ queue, state: 'ready' }, depth.ready)
      queueJobs.set({ queue, state: 'deferred' }, depth.deferred)
      queueJobs.set({ queue, state: 'active' }, depth.active)
      queueLag.set({ queue }, ageSeconds(depth.oldestReadyAt, now))
    }
    for (const [queue, count] of Object.entries(snapshot.deadLetters)) {
      deadLetters.set({ queue }, count)
    }
    for (const [entityType, counts] of Object.entries(snapshot.rows)) {
      rows.set({ entity_type: entityType, sync_state: 'pending' }, counts.pending)
      rows.set({ entity_type: entityType, sync_state: 'conflict' }, counts.conflict)
      rows.set({ entity_type: entityType, sync_state: 'failed' }, counts.failed)
      pendingLag.set({ entity_type: entityType }, ageSeconds(counts.oldestPendingAt, now))
    }
    unprocessed.set(snapshot.inbox.unprocessed)
    parked.set(snapshot.inbox.parked)
    notificationLag.set(ageSeconds(snapshot.inbox.oldestUnprocessedAt, now))
    for (const [entityType, count] of Object.entries(snapshot.openConflicts)) {
      openConflicts.set({ entity_type: entityType }, count)
    }
    const verification = snapshot.lastDriftRuns.verification
    if (verification) {
      for (const kind of FINDING_KINDS) {
        findings.set({ finding_kind: kind }, verification.counts[kind] ?? 0)
      }
    }
    for (const [kind, run] of Object.entries(snapshot.lastDriftRuns)) {
      if (run) driftFinished.set({ kind }, run.finishedAt.getTime() / 1000)
    }
  }

  async function refresh(): Promise<void> {
    for (const metric of gauges) metric.reset()
    try {
      record(await readSnapshot())
    } catch (error) {
      // reset() leaves 0 on a gauge without labels, which would pass for a real figure.
      for (const metric of gauges) {
        metric.reset()
        metric.remove({})
      }
      up.set(0)
      // Logged once per outage, not at every scrape.
      if (!lastReadFailed) logger.warn('Sync metrics could not be read', errorFields(error))
      lastReadFailed = true
      return
    }

    up.set(1)
    if (lastReadFailed) logger.info('Sync metrics readable again')
    lastReadFailed = false
  }
}
