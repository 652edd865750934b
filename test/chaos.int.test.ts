import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestRegistry, type TestRegistry } from './harness.ts'
import {
  ChaosHapi,
  DEFAULT_CHAOS_HAPI_DB_NAME,
  DEFAULT_CHAOS_HAPI_PORT,
} from './chaos/chaos-hapi.ts'
import { findDivergences, findDuplicates, findLostEdits, findStuckWork } from './chaos/checks.ts'
import { planFaults, runFaults, seconds } from './chaos/faults.ts'
import { readFinalState } from './chaos/final-state.ts'
import { listPendingJobs, runDrift, waitUntilQuiet, type PendingJob } from './chaos/quiesce.ts'
import { Random, seedFrom, streamSeed } from './chaos/random.ts'
import { describeCodeVersion, figuresOf, type ChaosRun } from './chaos/report.ts'
import { WorkerProcesses, workerEnvironment } from './chaos/workers.ts'
import { runWorkload } from './chaos/workload.ts'

// The claim under test: every change reaches the other side exactly once in effect, whatever
// crashes. Two worker processes are SIGKILLed at random, HAPI is stopped once (its in-memory
// delivery queue is lost), and a seeded workload writes through the API and straight into HAPI
// meanwhile. After the queues drain and drift catch-up and verification ran, both sides must
// agree, or an open conflict must explain why.

const seed = seedFrom(process.env.CHAOS_SEED)
const HAPI_PORT = Number(process.env.CHAOS_HAPI_PORT ?? DEFAULT_CHAOS_HAPI_PORT)
const HAPI_DB_NAME = process.env.CHAOS_HAPI_DB_NAME ?? DEFAULT_CHAOS_HAPI_DB_NAME
/** CHAOS_HAPI_MAX_THREADS sets HAPI's request threads; unset or 0 keeps the project's setting. */
const HAPI_MAX_THREADS =
  process.env.CHAOS_HAPI_MAX_THREADS === undefined || process.env.CHAOS_HAPI_MAX_THREADS === '0'
    ? null
    : Number(process.env.CHAOS_HAPI_MAX_THREADS)
const WORKER_COUNT = 2
const LOOPS_PER_SIDE = 2
/** The workload goes on this long after HAPI is back, so writes also meet a restarted HAPI. */
const WORKLOAD_AFTER_RESTART_MS = 10_000
/** The workload stops by then even if HAPI is still starting. */
const MAX_WORKLOAD_MS = 110_000
const QUIET_TIMEOUT_MS = 120_000
const DRIFT_TIMEOUT_MS = 60_000
/** Problems shown in an assertion message; the full list goes to a file in the log folder. */
const SHOWN_PROBLEMS = 40

function log(message: string): void {
  process.stdout.write(`[chaos] ${message}\n`)
}

let logDir = ''
let hapi: ChaosHapi | undefined
let t: TestRegistry | undefined
let workers: WorkerProcesses | undefined
const run: ChaosRun = { seed, codeVersion: describeCodeVersion(), startedAt: Date.now(), drift: [] }
let pendingAtEnd: PendingJob[] = []

async function runChaos(
  registry: TestRegistry,
  processes: WorkerProcesses,
  server: ChaosHapi,
): Promise<void> {
  const plan = planFaults(new Random(streamSeed(seed, 'faults')), WORKER_COUNT)
  log(
    `plan: workload ${seconds(plan.workloadMs)} s, kills at ${plan.kills.map((kill) => `+${seconds(kill.atMs)} s`).join(', ')}, HAPI stop at +${seconds(plan.hapiStopAtMs)} s for ${seconds(plan.hapiDownMs)} s`,
  )
  const { db, config } = registry.registry
  const api: TestRegistry['api'] = (...request) => registry.api(...request)
  run.startedAt = Date.now()
  const hardEnd = run.startedAt + MAX_WORKLOAD_MS
  const keepGoing = () => {
    const now = Date.now()
    if (now >= hardEnd) return false
    if (now < run.startedAt + plan.workloadMs) return true
    const outage = server.outages[0]
    return outage === undefined || now < outage.readyAt + WORKLOAD_AFTER_RESTART_MS
  }

  const faults = runFaults(plan, run.startedAt, processes, server, log)
  // Awaited after the workload; until then a failed HAPI restart must not count as unhandled.
  faults.catch(() => undefined)
  run.log = await runWorkload({
    seed,
    api,
    identifierSystem: registry.identifierSystem,
    hospital: registry.hospital,
    loopsPerSide: LOOPS_PER_SIDE,
    keepGoing,
  })
  run.workloadEndedAt = Date.now()
  log(`workload stopped at +${seconds(run.workloadEndedAt - run.startedAt)} s`)
  await faults

  run.firstQuiet = await waitUntilQuiet(db, config.QUEUE_SCHEMA, QUIET_TIMEOUT_MS, log)
  log(`first quiet: ${run.firstQuiet.quiet} after ${seconds(run.firstQuiet.waitedMs)} s`)
  for (const kind of ['catch-up', 'verification'] as const) {
    const drift = await runDrift(api, kind, DRIFT_TIMEOUT_MS)
    run.drift.push(drift)
    log(`drift ${kind}: ${drift.status}`)
  }
  run.secondQuiet = await waitUntilQuiet(db, config.QUEUE_SCHEMA, QUIET_TIMEOUT_MS, log)

  pendingAtEnd = await listPendingJobs(db, config.QUEUE_SCHEMA)
  run.state = await readFinalState(
    db,
    config.QUEUE_SCHEMA,
    config.FHIR_BASE_URL,
    registry.identifierSystem,
  )
  await writeFile(
    join(logDir, 'final-state.json'),
    JSON.stringify(
      {
        seed,
        plan,
        edits: run.log.edits,
        deletions: run.log.deletions,
        ...run.state,
        fhirPatients: [...run.state.fhirPatients.values()],
        fhirConditions: [...run.state.fhirConditions.values()],
      },
      null,
      1,
    ),
  )
}

/** Writes every problem to the log folder and returns the message of the failed assertion. */
async function describeProblems(title: string, problems: readonly string[]): Promise<string> {
  if (problems.length > 0) {
    await writeFile(join(logDir, `${title.replaceAll(' ', '-')}.txt`), `${problems.join('\n')}\n`)
  }
  return `seed ${seed}: ${problems.length} ${title} (CHAOS_SEED=${seed} reruns the plan; worker logs and final-state.json in ${logDir}, HAPI log .hapi/hapi-${HAPI_PORT}.log)`
}

describe('sync under chaos', () => {
  beforeAll(async () => {
    log(`seed ${seed}; CHAOS_SEED=${seed} reruns the same plan; code ${run.codeVersion}`)
    logDir = await mkdtemp(join(tmpdir(), 'brain-registry-chaos-'))
    hapi = new ChaosHapi({
      port: HAPI_PORT,
      dbName: HAPI_DB_NAME,
      maxThreads: HAPI_MAX_THREADS,
      log: (message) => {
        log(`hapi: ${message}`)
      },
    })
    await hapi.startFresh()
    t = await startTestRegistry('chaos', {
      PROCESS_ROLE: 'api',
      FHIR_BASE_URL: hapi.baseUrl,
      // Shared with the workers through the config, so no process makes up a secret of its own.
      SUBSCRIPTION_SECRET: randomBytes(24).toString('hex'),
    })
    workers = new WorkerProcesses({
      count: WORKER_COUNT,
      env: workerEnvironment(t.registry.config),
      logDir,
    })
    workers.startAll()
    await runChaos(t, workers, hapi)
  }, 600_000)

  afterAll(async () => {
    for (const line of figuresOf(run, workers, hapi?.outages ?? [])) log(line)
    await workers?.stopAll()
    try {
      await t?.stop()
    } catch (error) {
      // Deleting the Subscriptions fails while HAPI is down; the schemas are dropped regardless.
      log(`stopping the registry failed: ${error instanceof Error ? error.message : String(error)}`)
    }
    await hapi?.stop()
    log(`worker logs and the final state are in ${logDir}`)
  }, 120_000)

  it('runs drift catch-up and verification', async () => {
    const problems = run.drift
      .filter((drift) => drift.status !== 'finished')
      .map((drift) => `drift ${drift.kind}: ${drift.status} ${JSON.stringify(drift.body)}`)

    expect(problems, await describeProblems('drift runs not finished', problems)).toEqual([])
  })

  it('leaves registry and HAPI in step', async () => {
    const state = run.state
    if (!state || !run.log) throw new Error(`seed ${seed}: the run ended before the checks`)
    const problems = findDivergences(state, run.log)

    expect(
      problems.slice(0, SHOWN_PROBLEMS),
      await describeProblems('divergences', problems),
    ).toEqual([])
  })

  it('loses no edit', async () => {
    const state = run.state
    if (!state || !run.log) throw new Error(`seed ${seed}: the run ended before the checks`)
    const problems = findLostEdits(state, run.log, run.startedAt)

    expect(
      problems.slice(0, SHOWN_PROBLEMS),
      await describeProblems('lost edits', problems),
    ).toEqual([])
  })

  it('creates no resource twice', async () => {
    const state = run.state
    if (!state) throw new Error(`seed ${seed}: the run ended before the final state was read`)
    const problems = findDuplicates(state)

    expect(
      problems.slice(0, SHOWN_PROBLEMS),
      await describeProblems('duplicates', problems),
    ).toEqual([])
  })

  it('leaves no work stuck', async () => {
    const state = run.state
    if (!state) throw new Error(`seed ${seed}: the run ended before the final state was read`)
    const problems = findStuckWork(state, pendingAtEnd)

    expect(
      problems.slice(0, SHOWN_PROBLEMS),
      await describeProblems('stuck items', problems),
    ).toEqual([])
  })
})
