/**
 * Runs the registry as a child process, `node src/main.ts`, as it runs in production, for
 * benchmarks that measure it from outside, and reads the times it records in its log and tables.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import type { FhirClient } from '../../src/fhir/fhir-client.ts'
import { readSubscriptionStatuses } from '../../src/fhir/subscriptions.ts'
import type { Config } from '../../src/platform/config.ts'
import type { BareReceiver } from './bare-receiver.ts'
import { sleep } from './stats.ts'
import { freePort, registryEnv } from './engine-process.ts'

const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Time allowed for start-up: migrations, pg-boss, listening and active Subscriptions. */
const START_TIMEOUT_MS = 120_000
/** Time allowed for a graceful stop after SIGTERM before the process is killed. */
const STOP_TIMEOUT_MS = 20_000

/** A write whose path through the registry is split into stages. */
export interface MeasuredWrite {
  patientId: string
  versionId: number
  /** When the registry's row first showed the version, as `performance.now()` of this process. */
  registryVisibleAt?: number
}

export interface RegistryProcess {
  url: string
  /** File that receives the process's standard output and error, its JSON log lines. */
  logFile: string
  stop(): Promise<void>
}

/**
 * Starts `src/main.ts` with the benchmark's configuration and returns once it responds on
 * /health/live and HAPI reports its Subscriptions active. BENCH_REGISTRY_CPU_PROF_DIR=dir adds
 * `--cpu-prof`, so the process writes a V8 CPU profile into that folder when it stops.
 */
export async function startRegistryProcess(
  config: Config,
  fhir: FhirClient,
): Promise<RegistryProcess> {
  const port = await freePort()
  const logFile = path.join(os.tmpdir(), `${config.DATABASE_SCHEMA}.log`)
  const logFd = openSync(logFile, 'w')
  const profileDir = process.env.BENCH_REGISTRY_CPU_PROF_DIR
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []
  const child = spawn(process.execPath, [...nodeArgs, 'src/main.ts'], {
    cwd: REPOSITORY_ROOT,
    env: registryEnv(config, { HOST: '127.0.0.1', PORT: String(port) }),
    stdio: ['ignore', logFd, logFd],
  })
  closeSync(logFd)
  const state: { exitCode: number | null } = { exitCode: null }
  const exited = once(child, 'exit').then(([code]) => {
    state.exitCode = (code as number | null) ?? -1
  })

  const url = `http://127.0.0.1:${String(port)}`
  const stop = async () => {
    if (state.exitCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }

  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (state.exitCode !== null) {
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n')
      throw new Error(`The registry exited with code ${String(state.exitCode)} at start:\n${tail}`)
    }
    if ((await isLive(url)) && (await subscriptionsActive(fhir, config.SUBSCRIPTION_ID_PREFIX))) {
      return { url, logFile, stop }
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(
        `The registry did not respond with active Subscriptions within ${String(START_TIMEOUT_MS)} ms; see ${logFile}`,
      )
    }
    await sleep(250)
  }
}

async function isLive(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health/live`)
    await response.arrayBuffer()
    return response.ok
  } catch {
    return false
  }
}

async function subscriptionsActive(fhir: FhirClient, idPrefix: string): Promise<boolean> {
  const statuses = await readSubscriptionStatuses(fhir, idPrefix)
  return statuses.every((status) => status.status === 'active')
}

/**
 * Returns `fhirReadMs` of the registry's "FHIR change merged" log lines from `sinceEpochMs` on,
 * which is how long each merge waited for HAPI to return the current version.
 */
export async function mergeReadTimes(logFile: string, sinceEpochMs: number): Promise<number[]> {
  const times: number[] = []
  for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!line.includes('"FHIR change merged"')) continue
    const entry = JSON.parse(line) as { fhirReadMs?: number; timestamp?: string }
    if (entry.fhirReadMs === undefined || Date.parse(entry.timestamp ?? '') < sinceEpochMs) continue
    times.push(entry.fhirReadMs)
  }
  return times
}

/** Times of the engine's stages per write, in milliseconds. */
export interface Stages {
  receiver: number[]
  queueWait: number[]
  merge: number[]
}

/**
 * Splits each write's path through the registry by the times the registry stored: when the
 * receiver's transaction for its notification began (`now()` in Postgres) and when the merge job
 * that made it visible started. That job is the last one of the resource to start before the row
 * showed the version. Under a backlog it may be a job sent for an earlier delivery, whose read
 * from HAPI already found this version, so its queue wait counts as zero. Postgres and this
 * process read the same system clock.
 */
export async function registryStages(
  database: pg.Client,
  config: Config,
  writes: readonly MeasuredWrite[],
  receiver: BareReceiver,
): Promise<Stages> {
  const stages: Stages = { receiver: [], queueWait: [], merge: [] }
  const patientIds = [...new Set(writes.map((write) => write.patientId))]
  // Postgres returns `numeric` as a string.
  const notifications = await database.query<{
    resource_id: string
    version_id: number
    received_ms: string
  }>(
    `select resource_id, version_id, extract(epoch from received_at) * 1000 as received_ms
       from ${config.DATABASE_SCHEMA}.fhir_notifications
      where resource_type = 'Patient' and resource_id = any($1)`,
    [patientIds],
  )
  const jobs = await database.query<{ singleton_key: string; started_ms: string }>(
    `select singleton_key, extract(epoch from started_on) * 1000 as started_ms
       from ${config.QUEUE_SCHEMA}.job
      where name = 'fhir-merge' and started_on is not null and singleton_key = any($1)`,
    [patientIds.map((id) => `Patient/${id}`)],
  )
  const receivedAt = new Map(
    notifications.rows.map((row) => [
      `${row.resource_id}/${String(row.version_id)}`,
      Number(row.received_ms),
    ]),
  )
  const jobStarts = new Map<string, number[]>()
  for (const job of jobs.rows) {
    const starts = jobStarts.get(job.singleton_key) ?? []
    starts.push(Number(job.started_ms))
    jobStarts.set(job.singleton_key, starts)
  }

  for (const write of writes) {
    const received = receivedAt.get(`${write.patientId}/${String(write.versionId)}`)
    const bareAt = receiver.arrivalOf('Patient', write.patientId, write.versionId)
    if (received === undefined || bareAt === undefined || write.registryVisibleAt === undefined) {
      continue
    }
    const visible = performance.timeOrigin + write.registryVisibleAt
    const started = Math.max(
      ...(jobStarts.get(`Patient/${write.patientId}`) ?? []).filter((start) => start <= visible),
    )
    if (!Number.isFinite(started)) continue
    stages.receiver.push(received - (performance.timeOrigin + bareAt))
    stages.queueWait.push(Math.max(0, started - received))
    stages.merge.push(visible - Math.max(started, received))
  }
  return stages
}
