import { sql, type Kysely } from 'kysely'
import type { Database } from '../../src/platform/db.ts'
import { QUEUES } from '../../src/platform/queue.ts'
import type { TestRegistry } from '../harness.ts'
import { sleep } from './chaos-hapi.ts'

/** Queues whose jobs are sync work that must be done before the two sides can be compared. */
const WORKING_QUEUES = [QUEUES.fhirPush, QUEUES.fhirMerge, QUEUES.syncDrift] as const

/**
 * How long the queues and the notification inbox must stay still before the run counts as
 * quiet. HAPI hands a change to its rest-hook deliverer within about a second
 * (polling_interval_ms 1000) and the delivery takes a moment more, so a push that just finished
 * may still bring its echo notification; 6 s covers that with room.
 */
const QUIET_MS = 6_000

/** A pg-boss job of a working queue that is not done. */
export interface PendingJob {
  id: string
  name: string
  state: string
  singleton_key: string | null
  start_after: Date
  retry_count: number
}

/**
 * Lists the jobs of the working queues that wait, wait for a retry or run. Two kinds of delayed
 * job are left out, because they are not work the run caused:
 * - the merge job of a parked notification (a Condition whose subject is not resolvable yet).
 *   Parked merges are tried again after 30 s, 2 min, 10 min, 1 h and 6 h, so waiting for them
 *   would take hours. The parked notification itself stays on record and is checked on its own.
 * - the drift job that waits for the next scheduled run of its kind (5 min for the catch-up,
 *   6 h for the verification by default). A run requested through the API carries its `runId`.
 * A delayed push retry is not left out: it is a change that has not reached HAPI yet.
 */
export async function listPendingJobs(
  db: Kysely<Database>,
  queueSchema: string,
): Promise<PendingJob[]> {
  const jobs = sql.table(`${queueSchema}.job`)
  const result = await sql<PendingJob>`
    select j.id, j.name, j.state::text as state, j.singleton_key, j.start_after, j.retry_count
    from ${jobs} j
    where j.name in (${sql.join(WORKING_QUEUES)})
      and j.state in ('created', 'retry', 'active')
      and not (
        j.name = ${QUEUES.fhirMerge}
        and j.state = 'created'
        and j.start_after > now()
        and exists (
          select 1 from fhir_notifications n
          where n.processed_at is null
            and n.parked_reason is not null
            and n.resource_type || '/' || n.resource_id = j.singleton_key
        )
      )
      and not (
        j.name = ${QUEUES.syncDrift}
        and j.state = 'created'
        and j.start_after > now()
        and j.data ->> 'runId' is null
      )
    order by j.start_after`.execute(db)
  return result.rows
}

export interface QuietResult {
  quiet: boolean
  waitedMs: number
  /** When the queues and the inbox went still for good, in epoch milliseconds; null if never. */
  stillSince: number | null
  pending: PendingJob[]
  unprocessedNotifications: number
}

/**
 * Waits until no sync job is pending (see `listPendingJobs`), every notification is processed or
 * parked, and no new notification has arrived, for QUIET_MS in a row. Returns quiet: false after
 * `timeoutMs`, so the checks can show what was left.
 */
export async function waitUntilQuiet(
  db: Kysely<Database>,
  queueSchema: string,
  timeoutMs: number,
  log: (message: string) => void,
): Promise<QuietResult> {
  const startedAt = Date.now()
  let quietSince: number | null = null
  let lastNotificationId: string | null = null
  let lastProgressAt = startedAt
  for (;;) {
    const pending = await listPendingJobs(db, queueSchema)
    const inbox = await sql<{ unprocessed: number; last_id: string | null }>`
      select
        count(*) filter (where processed_at is null and parked_reason is null)::int as unprocessed,
        max(id)::text as last_id
      from fhir_notifications`.execute(db)
    const unprocessed = inbox.rows[0]?.unprocessed ?? 0
    const lastId = inbox.rows[0]?.last_id ?? null
    const now = Date.now()

    const still = pending.length === 0 && unprocessed === 0 && lastId === lastNotificationId
    quietSince = still ? (quietSince ?? now) : null
    lastNotificationId = lastId
    const result = {
      waitedMs: now - startedAt,
      stillSince: quietSince,
      pending,
      unprocessedNotifications: unprocessed,
    }
    if (quietSince !== null && now - quietSince >= QUIET_MS) return { quiet: true, ...result }
    if (now - startedAt > timeoutMs) return { quiet: false, ...result }
    if (now - lastProgressAt >= 10_000) {
      log(`waiting for quiet: ${pending.length} jobs pending, ${unprocessed} notifications`)
      lastProgressAt = now
    }
    await sleep(1_000)
  }
}

export type DriftKind = 'catch-up' | 'verification'

/** The end of one drift run requested through the admin API. */
export interface DriftOutcome {
  kind: DriftKind
  /** False when the API has no drift routes (404 ROUTE_NOT_FOUND). */
  available: boolean
  /** `finished` or `failed` as the run reported it, or why no run finished. */
  status: string
  runId: string | null
  durationMs: number
  /** The run as GET /sync/drift/runs/{id} returned it last, or the error response. */
  body: unknown
}

interface DriftRunBody {
  id?: string
  runId?: string
  status?: string
  code?: string
}

function asDriftRunBody(value: unknown): DriftRunBody {
  return typeof value === 'object' && value !== null ? value : {}
}

/** Tries of the POST while another run is active; each try waits for that run first. */
const DRIFT_START_ATTEMPTS = 3

/**
 * Runs one drift run through the admin API: POST /sync/drift/runs, then polls
 * GET /sync/drift/runs/{id} until its status is `finished` or `failed`. When another run is
 * active (409 DRIFT_RUN_ACTIVE, which names it in `runId`), waits for that one and posts again.
 */
export async function runDrift(
  api: TestRegistry['api'],
  kind: DriftKind,
  timeoutMs: number,
): Promise<DriftOutcome> {
  const startedAt = Date.now()
  const outcome = (fields: Omit<DriftOutcome, 'kind' | 'durationMs'>): DriftOutcome => ({
    kind,
    durationMs: Date.now() - startedAt,
    ...fields,
  })

  for (let attempt = 1; attempt <= DRIFT_START_ATTEMPTS; attempt++) {
    const response = await api('POST', '/sync/drift/runs', { kind })
    const body = asDriftRunBody(await response.json().catch(() => null))
    if (response.status === 404) {
      return outcome({ available: false, status: 'no drift routes', runId: null, body })
    }
    if (response.status === 409 && body.code === 'DRIFT_RUN_ACTIVE' && body.runId) {
      await pollDriftRun(api, body.runId, startedAt + timeoutMs)
      continue
    }
    const runId = body.id ?? body.runId
    if (!response.ok || runId === undefined) {
      return outcome({
        available: true,
        status: `POST returned ${response.status}`,
        runId: null,
        body,
      })
    }
    const { ended, run } = await pollDriftRun(api, runId, startedAt + timeoutMs)
    const status = ended ? (run.status ?? '') : `timed out while ${run.status ?? 'unknown'}`
    return outcome({ available: true, status, runId, body: run })
  }
  return outcome({
    available: true,
    status: `still blocked by other runs after ${DRIFT_START_ATTEMPTS} tries`,
    runId: null,
    body: null,
  })
}

/** Polls a drift run until it ends or the deadline passes; returns its last state. */
async function pollDriftRun(
  api: TestRegistry['api'],
  runId: string,
  deadline: number,
): Promise<{ ended: boolean; run: DriftRunBody }> {
  let run: DriftRunBody = {}
  while (Date.now() < deadline) {
    const response = await api('GET', `/sync/drift/runs/${encodeURIComponent(runId)}`)
    run = asDriftRunBody(await response.json().catch(() => null))
    if (run.status === 'finished' || run.status === 'failed') return { ended: true, run }
    await sleep(1_000)
  }
  return { ended: false, run }
}
