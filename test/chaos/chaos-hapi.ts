import pg from 'pg'
import {
  ensureHapiBuilt,
  ensureHapiDatabase,
  getHapiStatus,
  startHapi,
  stopHapi,
  type HapiHandle,
} from '../../scripts/hapi.ts'

export const DEFAULT_CHAOS_HAPI_PORT = 8082
export const DEFAULT_CHAOS_HAPI_DB_NAME = 'brain_registry_hapi_chaos'

/** One stop and start of HAPI during the run, in epoch milliseconds. */
export interface HapiOutage {
  stopRequestedAt: number
  stoppedAt: number
  startRequestedAt: number
  readyAt: number
}

/**
 * The chaos test's own HAPI server, on its own port and database. It is apart from the one the
 * other integration files share, because this test stops it in the middle of the run.
 */
export class ChaosHapi {
  readonly port: number
  readonly dbName: string
  readonly baseUrl: string
  readonly outages: HapiOutage[] = []
  readonly #log: (message: string) => void
  readonly #maxThreads: number | null
  #running = false

  /** `maxThreads` null keeps the request threads that hapi-config sets. */
  constructor(options: {
    port: number
    dbName: string
    maxThreads: number | null
    log: (message: string) => void
  }) {
    this.port = options.port
    this.dbName = options.dbName
    this.baseUrl = `http://127.0.0.1:${options.port}/fhir`
    this.#maxThreads = options.maxThreads
    this.#log = options.log
  }

  get running(): boolean {
    return this.#running
  }

  /**
   * Starts HAPI on an empty database. Resources left by an earlier run would count as duplicates
   * or unmerged changes, so the database is dropped and created again first. A HAPI that an
   * earlier chaos run left on the port is stopped through its pid file. Any other server there
   * makes the start fail, because reusing it would skip the empty database.
   */
  async startFresh(): Promise<void> {
    const options = { port: this.port, dbName: this.dbName, log: this.#log }
    await ensureHapiBuilt(options)
    // Only a process named by .hapi/hapi-<port>.pid, that is a HAPI jar, is stopped.
    await stopHapi(options)
    if ((await getHapiStatus(options)).responding) {
      throw new Error(
        `A FHIR server that this test did not start answers on port ${this.port}; stop it or set CHAOS_HAPI_PORT`,
      )
    }
    await dropDatabase(this.dbName)
    await ensureHapiDatabase(options)
    const handle = await this.#start()
    if (!handle.startedByUs) {
      throw new Error(
        `HAPI on port ${this.port} was reused instead of started on an empty database`,
      )
    }
    this.#running = true
  }

  /**
   * Stops HAPI, waits until it has been down for `downMs`, and starts it again on the same
   * database. HAPI keeps its delivery queue in memory, so the notifications it had not sent yet
   * are lost.
   */
  async bounce(downMs: number): Promise<HapiOutage> {
    const options = { port: this.port, dbName: this.dbName, log: this.#log }
    const stopRequestedAt = Date.now()
    this.#running = false
    await stopHapi(options)
    const stoppedAt = Date.now()
    await sleep(Math.max(0, stopRequestedAt + downMs - Date.now()))
    const startRequestedAt = Date.now()
    await this.#start()
    this.#running = true
    const outage = { stopRequestedAt, stoppedAt, startRequestedAt, readyAt: Date.now() }
    this.outages.push(outage)
    return outage
  }

  /**
   * Starts HAPI with the thread limit. startHapi passes this process's environment to the JVM,
   * and Spring Boot reads SERVER_TOMCAT_THREADS_MAX from it; the variable is set only meanwhile.
   */
  async #start(): Promise<HapiHandle> {
    const options = { port: this.port, dbName: this.dbName, log: this.#log }
    if (this.#maxThreads === null) return startHapi(options)
    const previous = process.env.SERVER_TOMCAT_THREADS_MAX
    process.env.SERVER_TOMCAT_THREADS_MAX = String(this.#maxThreads)
    try {
      return await startHapi(options)
    } finally {
      if (previous === undefined) delete process.env.SERVER_TOMCAT_THREADS_MAX
      else process.env.SERVER_TOMCAT_THREADS_MAX = previous
    }
  }

  /** Stops HAPI when this test started it; the database stays for a look after a failure. */
  async stop(): Promise<void> {
    this.#running = false
    await stopHapi({ port: this.port, log: this.#log })
  }
}

async function dropDatabase(dbName: string): Promise<void> {
  const client = new pg.Client({
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    password: process.env.PGPASSWORD ?? '',
    database: 'postgres',
  })
  await client.connect()
  try {
    // FORCE ends the connections of a HAPI that died without closing them (Postgres 13 and later).
    await client.query(`drop database if exists ${pg.escapeIdentifier(dbName)} with (force)`)
  } finally {
    await client.end()
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
