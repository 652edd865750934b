import { execFileSync } from 'node:child_process'
import path from 'node:path'
import type { HapiOutage } from './chaos-hapi.ts'
import { seconds } from './faults.ts'
import type { FinalState } from './final-state.ts'
import type { DriftOutcome, QuietResult } from './quiesce.ts'
import type { WorkerProcesses } from './workers.ts'
import type { WorkloadLog } from './workload-log.ts'

/** What a chaos run produced, as far as it got; the figures print whatever is there. */
export interface ChaosRun {
  seed: number
  /** The commit and the uncommitted files under src/ that the run tested. */
  codeVersion: string
  startedAt: number
  workloadEndedAt?: number
  log?: WorkloadLog
  firstQuiet?: QuietResult
  drift: DriftOutcome[]
  secondQuiet?: QuietResult
  state?: FinalState
}

/** Lines that sum up a run, so it can be quoted: edits, faults, timings, conflicts, drift. */
export function figuresOf(
  run: ChaosRun,
  workers: WorkerProcesses | undefined,
  outages: readonly HapiOutage[],
): string[] {
  const lines = [`seed ${run.seed}, code ${run.codeVersion}`]
  const at = (time: number) => `+${seconds(time - run.startedAt)} s`
  if (run.log && run.workloadEndedAt !== undefined) {
    const { log } = run
    const bySide = (side: string) => log.edits.filter((edit) => edit.side === side).length
    const deletes = (side: string) => log.deletions.filter((entry) => entry.side === side).length
    lines.push(
      `workload ${seconds(run.workloadEndedAt - run.startedAt)} s: registry ${bySide('registry')} edits and ${deletes('registry')} deletes, hospital ${bySide('fhir')} edits and ${deletes('fhir')} deletes`,
      `operations: ${[...log.counts].map(([name, count]) => `${name} ${count}`).join(', ')}`,
    )
    for (const response of log.unexpected.slice(0, 10)) {
      lines.push(
        `unexpected response at ${at(response.at)}: ${response.side} ${response.operation} ${response.status} ${response.detail}`,
      )
    }
  }
  if (workers) {
    lines.push(
      `worker kills: ${workers.kills.length} (${workers.kills.map((kill) => `worker ${kill.worker} at ${at(kill.at)}`).join(', ')}); exits on their own: ${workers.unexpectedExits.length}`,
    )
    for (const exit of workers.unexpectedExits) {
      lines.push(`worker ${exit.worker} exited on its own at ${at(exit.at)}: ${exit.exit}`)
    }
  }
  for (const outage of outages) {
    lines.push(
      `HAPI down ${seconds(outage.readyAt - outage.stopRequestedAt)} s: stop at ${at(outage.stopRequestedAt)}, start at ${at(outage.startRequestedAt)}, ready at ${at(outage.readyAt)}`,
    )
  }
  const { firstQuiet, workloadEndedAt } = run
  if (firstQuiet && workloadEndedAt !== undefined) {
    lines.push(
      firstQuiet.quiet && firstQuiet.stillSince !== null
        ? `converged ${seconds(firstQuiet.stillSince - workloadEndedAt)} s after the workload stopped (no job, no new notification from then on)`
        : `still busy ${seconds(firstQuiet.waitedMs)} s after the workload stopped`,
    )
  }
  for (const drift of run.drift) {
    lines.push(
      `drift ${drift.kind}: ${drift.status} in ${seconds(drift.durationMs)} s; ${JSON.stringify(drift.body)}`,
    )
  }
  if (run.secondQuiet) {
    lines.push(
      `${run.secondQuiet.quiet ? 'quiet' : 'still busy'} ${seconds(run.secondQuiet.waitedMs)} s after the drift runs`,
    )
  }
  if (run.state) lines.push(...stateFigures(run.state))
  return lines
}

/** The writer of a HAPI version, from its `meta.source` without the request id. */
function writerOf(source: string | null): string {
  if (source === null) return 'unknown'
  if (source.includes('hospital')) return 'hospital'
  return source.includes('brain-registry') ? 'registry' : source.split('#')[0] || 'unknown'
}

function stateFigures(state: FinalState): string[] {
  const count = <T>(items: readonly T[], keyOf: (item: T) => string) => {
    const counts = new Map<string, number>()
    for (const item of items) counts.set(keyOf(item), (counts.get(keyOf(item)) ?? 0) + 1)
    return [...counts].map(([key, value]) => `${key} ${value}`).join(', ')
  }
  const live = (rows: readonly { deleted_at: Date | null }[]) =>
    rows.filter((row) => row.deleted_at === null).length
  return [
    `registry: ${state.patients.length} patients (${live(state.patients)} live), ${state.conditions.length} conditions (${live(state.conditions)} live); HAPI: ${state.fhirPatients.size} Patients, ${state.fhirConditions.size} Conditions`,
    `conflicts opened: ${state.conflicts.length} (${count(state.conflicts, (conflict) => conflict.status)}); by field: ${count(state.conflicts, (conflict) => conflict.field_path)}`,
    `notifications: ${state.notifications.length} (${count(state.notifications, (notification) => notification.outcome ?? (notification.parked_reason ? 'parked' : 'unprocessed'))})`,
    `HAPI versions: ${state.history.length} (${count(state.history, (entry) => `${entry.method} by ${writerOf(entry.source)}`)})`,
    `audit rows: ${state.audit.length} (${count(state.audit, (entry) => `${entry.source}/${entry.action}`)})`,
  ]
}

/**
 * Names the code a run tested: the commit, and the files under src/ that differ from it. The
 * workers load src/ when they start, so a run that overlaps an edit can test a mix.
 */
export function describeCodeVersion(): string {
  const root = path.resolve(import.meta.dirname, '..', '..')
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root })
    const changed = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root })
    const files = changed.toString().split('\n').filter(Boolean).length
    return `${commit.toString().trim()} with ${files} uncommitted files under src/`
  } catch {
    return 'unknown (git failed)'
  }
}
