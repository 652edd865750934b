import { sleep, type ChaosHapi } from './chaos-hapi.ts'
import type { Random } from './random.ts'
import type { WorkerProcesses } from './workers.ts'

/** The faults of one run, in milliseconds after the workload started. */
export interface FaultPlan {
  /** How long the workload runs at least. */
  workloadMs: number
  kills: { atMs: number; worker: number; restartAfterMs: number }[]
  hapiStopAtMs: number
  /** From the stop request to the start request; HAPI's own start (20 to 40 s) comes on top. */
  hapiDownMs: number
}

/** First and last moment of a worker kill, so the workers started and the run still goes on. */
const KILL_WINDOW = { fromMs: 4_000, beforeEndMs: 6_000 } as const

/**
 * Plans the faults: 3 to 5 SIGKILLs of a random worker and one HAPI stop of 15 to 30 s. Each kill
 * falls in its own equal slice of the workload, so two kills never overlap. The stop comes early
 * enough for HAPI to be back while the workload still runs.
 */
export function planFaults(random: Random, workerCount: number): FaultPlan {
  const workloadMs = random.int(60_000, 75_000)
  const killCount = random.int(3, 5)
  const sliceMs = (workloadMs - KILL_WINDOW.fromMs - KILL_WINDOW.beforeEndMs) / killCount
  const kills = Array.from({ length: killCount }, (_, slice) => ({
    atMs: Math.round(KILL_WINDOW.fromMs + sliceMs * slice + random.float() * (sliceMs - 2_500)),
    worker: random.int(0, workerCount - 1),
    restartAfterMs: random.int(1_000, 2_000),
  }))
  return {
    workloadMs,
    kills,
    hapiStopAtMs: random.int(12_000, 25_000),
    hapiDownMs: random.int(15_000, 30_000),
  }
}

/**
 * Carries out the plan against the workers and HAPI, and starts again any worker that exits on
 * its own, until both the kills and the HAPI outage are over.
 */
export async function runFaults(
  plan: FaultPlan,
  startedAt: number,
  workers: WorkerProcesses,
  hapi: ChaosHapi,
  log: (message: string) => void,
): Promise<void> {
  let done = false
  const supervise = async () => {
    while (!done) {
      workers.restartExitedOnTheirOwn()
      await sleep(2_000)
    }
  }
  const killWorkers = async () => {
    for (const kill of plan.kills) {
      await sleep(Math.max(0, startedAt + kill.atMs - Date.now()))
      await workers.kill(kill.worker)
      log(`killed worker ${kill.worker + 1} at +${seconds(Date.now() - startedAt)} s`)
      await sleep(kill.restartAfterMs)
      workers.start(kill.worker)
    }
  }
  const bounceHapi = async () => {
    await sleep(Math.max(0, startedAt + plan.hapiStopAtMs - Date.now()))
    log(`stopping HAPI at +${seconds(Date.now() - startedAt)} s for ${seconds(plan.hapiDownMs)} s`)
    const outage = await hapi.bounce(plan.hapiDownMs)
    log(`HAPI is back at +${seconds(outage.readyAt - startedAt)} s`)
  }

  const supervision = supervise()
  try {
    await Promise.all([killWorkers(), bounceHapi()])
  } finally {
    done = true
    await supervision
  }
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(1)
}
