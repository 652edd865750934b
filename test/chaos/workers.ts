import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, closeSync, openSync } from 'node:fs'
import path from 'node:path'
import type { Config } from '../../src/platform/config.ts'

const REPOSITORY_ROOT = path.resolve(import.meta.dirname, '..', '..')
/** The project runs on the Node 24 that npm installs; an older node on the PATH cannot run it. */
const NODE_BINARY = path.join(REPOSITORY_ROOT, 'node_modules', '.bin', 'node')

/** Builds the environment of a worker that shares the API registry's database, queue and HAPI. */
export function workerEnvironment(config: Config): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PROCESS_ROLE: 'worker',
    DATABASE_URL: config.DATABASE_URL,
    DATABASE_SCHEMA: config.DATABASE_SCHEMA,
    QUEUE_SCHEMA: config.QUEUE_SCHEMA,
    FHIR_BASE_URL: config.FHIR_BASE_URL,
    FHIR_SOURCE_URI: config.FHIR_SOURCE_URI,
    REGISTRY_IDENTIFIER_SYSTEM: config.REGISTRY_IDENTIFIER_SYSTEM,
    SUBSCRIPTION_SECRET: config.SUBSCRIPTION_SECRET,
    SUBSCRIPTION_ID_PREFIX: config.SUBSCRIPTION_ID_PREFIX,
    LOG_LEVEL: 'warn',
  }
}

/** A worker's exit that the test did not cause. */
export interface UnexpectedExit {
  worker: number
  at: number
  exit: string
}

interface Slot {
  child: ChildProcess | null
  logFile: string
  starts: number
  /** Set when the worker exited without being killed, until it is started again. */
  exitedOnItsOwn: boolean
}

/**
 * Worker processes (`src/main.ts` with PROCESS_ROLE=worker) that the test starts, SIGKILLs and
 * starts again. Each writes its output to its own file, kept for the failure report.
 */
export class WorkerProcesses {
  readonly kills: { worker: number; at: number }[] = []
  readonly unexpectedExits: UnexpectedExit[] = []
  readonly #slots: Slot[]
  readonly #env: Record<string, string>
  readonly #expectedExits = new Set<ChildProcess>()
  readonly #killOnExit = () => {
    // A vitest run that ends abruptly must not leave workers behind, writing to dropped schemas.
    for (const slot of this.#slots) slot.child?.kill('SIGKILL')
  }

  constructor(options: { count: number; env: Record<string, string>; logDir: string }) {
    this.#env = options.env
    this.#slots = Array.from({ length: options.count }, (_, index) => ({
      child: null,
      logFile: path.join(options.logDir, `worker-${index + 1}.log`),
      starts: 0,
      exitedOnItsOwn: false,
    }))
    process.once('exit', this.#killOnExit)
  }

  get count(): number {
    return this.#slots.length
  }

  get logFiles(): string[] {
    return this.#slots.map((slot) => slot.logFile)
  }

  startAll(): void {
    for (let index = 0; index < this.#slots.length; index++) this.start(index)
  }

  /** Starts worker `index`, appending its output to its log file after a marker line. */
  start(index: number): void {
    const slot = this.#slot(index)
    if (slot.child) throw new Error(`Worker ${index + 1} is already running`)
    slot.starts++
    slot.exitedOnItsOwn = false
    appendFileSync(
      slot.logFile,
      `--- worker ${index + 1} start ${slot.starts} at ${new Date().toISOString()}\n`,
    )
    const output = openSync(slot.logFile, 'a')
    const child = spawn(NODE_BINARY, ['src/main.ts'], {
      cwd: REPOSITORY_ROOT,
      env: this.#env,
      stdio: ['ignore', output, output],
    })
    closeSync(output)
    child.on('exit', (code, signal) => {
      if (slot.child === child) slot.child = null
      if (this.#expectedExits.delete(child)) return
      const exit = signal === null ? `exit code ${String(code)}` : `signal ${signal}`
      slot.exitedOnItsOwn = true
      this.unexpectedExits.push({ worker: index + 1, at: Date.now(), exit })
      appendFileSync(slot.logFile, `--- worker ${index + 1} exited on its own: ${exit}\n`)
    })
    slot.child = child
  }

  /** SIGKILLs worker `index`, waits for its exit and records the kill. */
  async kill(index: number): Promise<void> {
    const slot = this.#slot(index)
    const child = slot.child
    if (!child) return
    this.#expectedExits.add(child)
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        resolve()
      }),
    )
    child.kill('SIGKILL')
    await exited
    this.kills.push({ worker: index + 1, at: Date.now() })
    appendFileSync(slot.logFile, `--- worker ${index + 1} killed at ${new Date().toISOString()}\n`)
  }

  /** Starts again every worker that exited on its own, as a supervisor would. */
  restartExitedOnTheirOwn(): void {
    for (let index = 0; index < this.#slots.length; index++) {
      if (this.#slot(index).exitedOnItsOwn) this.start(index)
    }
  }

  /** SIGKILLs every running worker; the end of a run, so the kills are not counted. */
  async stopAll(): Promise<void> {
    const exits: Promise<void>[] = []
    for (const slot of this.#slots) {
      const child = slot.child
      if (!child) continue
      this.#expectedExits.add(child)
      exits.push(
        new Promise<void>((resolve) =>
          child.once('exit', () => {
            resolve()
          }),
        ),
      )
      child.kill('SIGKILL')
    }
    await Promise.all(exits)
    process.removeListener('exit', this.#killOnExit)
  }

  #slot(index: number): Slot {
    const slot = this.#slots[index]
    if (!slot) throw new Error(`No worker ${index + 1}`)
    return slot
  }
}
