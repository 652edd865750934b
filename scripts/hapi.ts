/**
 * Builds, starts and stops the project's own HAPI FHIR JPA server (R4), which the Maven project in
 * hapi-config/server assembles from Maven Central artifacts. `npm start` and the test setup import
 * the functions, and `node scripts/hapi.ts build|start|stop|status|run` is the command line.
 *
 * Environment (read when an option is not given):
 *   HAPI_PORT (8080), HAPI_DB_NAME (brain_registry_hapi), PGHOST (127.0.0.1), PGPORT (5432),
 *   PGUSER (postgres), PGPASSWORD (empty), HAPI_START_TIMEOUT_MS (240000), HAPI_JAVA_OPTS (extra
 *   JVM options, split at spaces), JAVA_HOME (the java binary, else `java` from PATH).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createHash } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

export interface HapiOptions {
  /** HTTP port on 127.0.0.1; default HAPI_PORT or 8080. */
  port?: number
  /** Postgres database that HAPI stores its resources in; default HAPI_DB_NAME or brain_registry_hapi. */
  dbName?: string
  /** Receives one line per step; default writes to stderr. */
  log?: (message: string) => void
}

export interface StartHapiOptions extends HapiOptions {
  /** Time allowed from JVM start until GET /fhir/metadata returns 200; default 240 000 ms. */
  startTimeoutMs?: number
  /** JVM options after the defaults and HAPI_JAVA_OPTS, so they take precedence over both. */
  jvmOptions?: readonly string[]
}

export interface HapiHandle {
  /** FHIR base URL, e.g. http://127.0.0.1:8080/fhir */
  baseUrl: string
  /** Process id of the JVM, or 0 when a running server was reused and no pid file names it. */
  pid: number
  /** False when a FHIR server was already running on the port; stop() then leaves it running. */
  startedByUs: boolean
  stop(): Promise<void>
}

export interface HapiStatus {
  baseUrl: string
  pidFile: string
  /** Process id from the pid file, when the file exists. */
  pid?: number
  processRunning: boolean
  responding: boolean
}

interface Settings {
  port: number
  dbName: string
  pgHost: string
  pgPort: number
  pgUser: string
  pgPassword: string
  log: (message: string) => void
}

const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SERVER_PROJECT_DIR = path.join(REPOSITORY_ROOT, 'hapi-config', 'server')
const JAR_PATH = path.join(SERVER_PROJECT_DIR, 'target', 'hapi-server.jar')
const STATE_DIR = path.join(REPOSITORY_ROOT, '.hapi')
const BUILD_HASH_FILE = path.join(STATE_DIR, 'hapi-server.build-hash')
const BUILD_COMMAND = ['mvn', '-q', '-B', 'package', '-DskipTests'] as const

const DEFAULT_PORT = 8080
const DEFAULT_DB_NAME = 'brain_registry_hapi'
const DEFAULT_START_TIMEOUT_MS = 240_000
const STOP_GRACE_MS = 20_000
const POLL_INTERVAL_MS = 500
const METADATA_REQUEST_TIMEOUT_MS = 5_000
const LOCK_TIMEOUT_MS = 20 * 60_000

// C1-only JIT (TieredStopAtLevel=1) cut the JVM's CPU time until /fhir/metadata returned 200
// from about 56 s to about 35 s on a 2-core machine. The server runs slower at peak, which does not
// matter for development and tests.
const DEFAULT_JVM_OPTIONS = ['-Xms256m', '-Xmx1g', '-XX:TieredStopAtLevel=1']

const DATABASE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

function defaultLog(message: string): void {
  process.stderr.write(`[hapi] ${message}\n`)
}

function parsePort(value: string | number, name: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`${name} must be a port number from 1 to 65535, got "${String(value)}"`)
  }
  return port
}

function resolveSettings(options: HapiOptions = {}): Settings {
  const env = process.env
  const dbName = options.dbName ?? env.HAPI_DB_NAME ?? DEFAULT_DB_NAME
  if (!DATABASE_NAME_PATTERN.test(dbName)) {
    throw new Error(
      `HAPI database name "${dbName}" is invalid: use letters, digits and underscores, at most 63`,
    )
  }
  return {
    port: parsePort(options.port ?? env.HAPI_PORT ?? DEFAULT_PORT, 'HAPI_PORT'),
    dbName,
    pgHost: env.PGHOST ?? '127.0.0.1',
    pgPort: parsePort(env.PGPORT ?? 5432, 'PGPORT'),
    pgUser: env.PGUSER ?? 'postgres',
    pgPassword: env.PGPASSWORD ?? '',
    log: options.log ?? defaultLog,
  }
}

function baseUrlFor(port: number): string {
  return `http://127.0.0.1:${port}/fhir`
}

function pidFileFor(port: number): string {
  return path.join(STATE_DIR, `hapi-${port}.pid`)
}

function logFileFor(port: number): string {
  return path.join(STATE_DIR, `hapi-${port}.log`)
}

function runJarFor(port: number): string {
  return path.join(STATE_DIR, `hapi-server-${port}.jar`)
}

function relative(file: string): string {
  return path.relative(process.cwd(), file) || file
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function isErrnoException(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code
}

/**
 * Returns whether the process exists and is not a zombie. A child that exited but was not yet
 * reaped still accepts signal 0, so its /proc state is checked as well (Linux only).
 */
function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return isErrnoException(error, 'EPERM')
  }
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')
    return fields[1]?.startsWith('Z') !== true
  } catch {
    return true
  }
}

/** Returns false when /proc shows that the pid now belongs to a process other than a HAPI jar. */
function isHapiProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('hapi-server')
  } catch {
    return true
  }
}

async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch (error) {
    if (isErrnoException(error, 'ENOENT')) return undefined
    throw error
  }
}

/** Returns whether GET {baseUrl}/metadata returns 200 with a CapabilityStatement. */
async function isResponding(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/metadata`, {
      headers: { accept: 'application/fhir+json' },
      signal: AbortSignal.timeout(METADATA_REQUEST_TIMEOUT_MS),
    })
    if (response.status !== 200) {
      await response.body?.cancel()
      return false
    }
    const body = (await response.json()) as { resourceType?: unknown }
    return body.resourceType === 'CapabilityStatement'
  } catch {
    return false
  }
}

/**
 * Runs the action while holding .hapi/<name>.lock, so that two processes (say `npm start` and a
 * test run) do not build into the same target folder or start two servers on one port. A lock
 * whose owner has exited is taken over.
 */
async function withLock<T>(
  name: string,
  log: (message: string) => void,
  action: () => Promise<T>,
): Promise<T> {
  await mkdir(STATE_DIR, { recursive: true })
  const lockFile = path.join(STATE_DIR, `${name}.lock`)
  const deadline = Date.now() + LOCK_TIMEOUT_MS
  let waitLogged = false
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx')
      await handle.writeFile(String(process.pid))
      await handle.close()
      break
    } catch (error) {
      if (!isErrnoException(error, 'EEXIST')) throw error
    }
    const owner = await readPid(lockFile)
    if (owner === undefined ? !(await isRecent(lockFile)) : !isProcessRunning(owner)) {
      await rm(lockFile, { force: true })
      continue
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${relative(lockFile)}, held by process ${owner}`)
    }
    if (!waitLogged) {
      log(`Waiting for process ${owner}, which holds ${relative(lockFile)}`)
      waitLogged = true
    }
    await sleep(1_000)
  }
  try {
    return await action()
  } finally {
    await rm(lockFile, { force: true })
  }
}

/** Returns whether the file was written in the last 5 s: a lock whose owner is still writing its pid. */
async function isRecent(file: string): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs < 5_000
  } catch {
    return false
  }
}

async function listFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true })
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
}

/** Hashes pom.xml and every file under src/, so any change to the Maven project forces a build. */
async function hashServerProject(): Promise<string> {
  const files = [
    path.join(SERVER_PROJECT_DIR, 'pom.xml'),
    ...(await listFiles(path.join(SERVER_PROJECT_DIR, 'src'))),
  ].sort()
  const hash = createHash('sha256')
  for (const file of files) {
    hash.update(path.relative(SERVER_PROJECT_DIR, file))
    hash.update('\0')
    hash.update(await readFile(file))
    hash.update('\0')
  }
  return hash.digest('hex')
}

async function fileExists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile()
  } catch (error) {
    if (isErrnoException(error, 'ENOENT')) return false
    throw error
  }
}

async function readBuildHash(): Promise<string | undefined> {
  try {
    return (await readFile(BUILD_HASH_FILE, 'utf8')).trim()
  } catch (error) {
    if (isErrnoException(error, 'ENOENT')) return undefined
    throw error
  }
}

function runBuild(): Promise<void> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = BUILD_COMMAND
    const child = spawn(command, args, {
      cwd: SERVER_PROJECT_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-20_000)
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.on('error', (error) => {
      reject(new Error(`Could not run ${command}: ${error.message}. Is Maven installed?`))
    })
    child.on('close', (code, signal) => {
      if (code === 0) {
        resolve()
        return
      }
      const outcome = signal === null ? `exit code ${String(code)}` : `signal ${signal}`
      reject(
        new Error(
          `HAPI server build failed (${BUILD_COMMAND.join(' ')} in ${relative(SERVER_PROJECT_DIR)}, ${outcome}):\n${output.trim()}`,
        ),
      )
    })
  })
}

/**
 * Builds hapi-config/server/target/hapi-server.jar with Maven when the jar is missing or pom.xml
 * or src/ changed since the last build. The hash of those files is kept in .hapi/.
 */
export async function ensureHapiBuilt(
  options: Pick<HapiOptions, 'log'> & { force?: boolean } = {},
): Promise<{ built: boolean; jarPath: string }> {
  const log = options.log ?? defaultLog
  return withLock('build', log, async () => {
    const hash = await hashServerProject()
    if (
      options.force !== true &&
      (await fileExists(JAR_PATH)) &&
      (await readBuildHash()) === hash
    ) {
      log(`HAPI server jar is up to date: ${relative(JAR_PATH)}`)
      return { built: false, jarPath: JAR_PATH }
    }

    log(
      `Building the HAPI server jar: ${BUILD_COMMAND.join(' ')} in ${relative(SERVER_PROJECT_DIR)}`,
    )
    const startedAt = Date.now()
    await rm(BUILD_HASH_FILE, { force: true })
    await runBuild()
    if (!(await fileExists(JAR_PATH))) {
      throw new Error(`The Maven build finished but ${relative(JAR_PATH)} is missing`)
    }
    await writeFile(BUILD_HASH_FILE, `${hash}\n`)
    log(`Built ${relative(JAR_PATH)} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
    return { built: true, jarPath: JAR_PATH }
  })
}

/** Creates HAPI's Postgres database unless it exists, connecting to the `postgres` database. */
export async function ensureHapiDatabase(options: HapiOptions = {}): Promise<{ created: boolean }> {
  const settings = resolveSettings(options)
  const client = new pg.Client({
    host: settings.pgHost,
    port: settings.pgPort,
    user: settings.pgUser,
    password: settings.pgPassword,
    database: 'postgres',
  })
  await client.connect()
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      settings.dbName,
    ])
    if (existing.rowCount !== 0) {
      settings.log(`HAPI database ${settings.dbName} exists`)
      return { created: false }
    }
    try {
      // The name matched DATABASE_NAME_PATTERN, so quoting it is enough.
      await client.query(`CREATE DATABASE "${settings.dbName}"`)
    } catch (error) {
      // 42P04 duplicate_database: another process created it after the check above.
      if ((error as { code?: unknown }).code === '42P04') return { created: false }
      throw error
    }
    settings.log(`Created HAPI database ${settings.dbName}`)
    return { created: true }
  } finally {
    await client.end()
  }
}

function javaCommand(): string {
  const javaHome = process.env.JAVA_HOME
  return javaHome ? path.join(javaHome, 'bin', 'java') : 'java'
}

function jvmArguments(
  settings: Settings,
  jarPath: string,
  callerOptions: readonly string[],
): string[] {
  const extraOptions = (process.env.HAPI_JAVA_OPTS ?? '').split(/\s+/).filter(Boolean)
  return [
    ...DEFAULT_JVM_OPTIONS,
    ...extraOptions,
    ...callerOptions,
    '-jar',
    jarPath,
    // Spring Boot reads these as properties with the highest precedence.
    `--server.port=${settings.port}`,
    `--spring.datasource.url=jdbc:postgresql://${settings.pgHost}:${settings.pgPort}/${settings.dbName}`,
    `--spring.datasource.username=${settings.pgUser}`,
  ]
}

async function tailOfFile(file: string, lineCount: number): Promise<string> {
  try {
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n')
    return lines.slice(-lineCount).join('\n')
  } catch {
    return ''
  }
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch (error) {
    if (!isErrnoException(error, 'ESRCH')) throw error
  }
}

/** Sends SIGTERM, waits up to the grace period, then SIGKILL. Returns whether it had to kill. */
async function terminate(pid: number, graceMs: number): Promise<boolean> {
  sendSignal(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isProcessRunning(pid)) return false
    await sleep(200)
  }
  sendSignal(pid, 'SIGKILL')
  while (isProcessRunning(pid)) await sleep(100)
  return true
}

type StartOutcome = { status: 'ready' } | { status: 'timeout' } | { status: 'exited'; exit: string }

/** Polls GET /metadata until it returns 200, the process exits or the time is up. */
async function waitUntilResponding(
  baseUrl: string,
  timeoutMs: number,
  describeExit: () => string | undefined,
): Promise<StartOutcome> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await isResponding(baseUrl)) return { status: 'ready' }
    const exit = describeExit()
    if (exit !== undefined) return { status: 'exited', exit }
    await sleep(POLL_INTERVAL_MS)
  }
  return { status: 'timeout' }
}

function reusedHandle(baseUrl: string, pid: number | undefined): HapiHandle {
  return { baseUrl, pid: pid ?? 0, startedByUs: false, stop: () => Promise.resolve() }
}

/**
 * Starts the HAPI server on 127.0.0.1:<port>, or reuses a FHIR server already running there.
 *
 * A new server runs detached, writes to .hapi/hapi-<port>.log and records its pid in
 * .hapi/hapi-<port>.pid, so `node scripts/hapi.ts stop` can stop it from another process. Builds
 * the jar and creates the database first when needed. Throws, naming the log file, when the JVM
 * exits early or /fhir/metadata does not respond in time, and kills the JVM in both cases.
 */
export async function startHapi(options: StartHapiOptions = {}): Promise<HapiHandle> {
  const settings = resolveSettings(options)
  const { port, log } = settings
  const baseUrl = baseUrlFor(port)
  const pidFile = pidFileFor(port)
  const logFile = logFileFor(port)
  const timeoutMs =
    options.startTimeoutMs ??
    Number(process.env.HAPI_START_TIMEOUT_MS ?? String(DEFAULT_START_TIMEOUT_MS))

  if (await isResponding(baseUrl)) {
    log(`Reusing the FHIR server already running at ${baseUrl}`)
    return reusedHandle(baseUrl, await readPid(pidFile))
  }

  return withLock(`start-${port}`, log, async () => {
    // Another process may have started the server while this one waited for the lock.
    if (await isResponding(baseUrl)) {
      log(`Reusing the FHIR server already running at ${baseUrl}`)
      return reusedHandle(baseUrl, await readPid(pidFile))
    }
    const recordedPid = await readPid(pidFile)
    if (recordedPid !== undefined) {
      if (isProcessRunning(recordedPid) && isHapiProcess(recordedPid)) {
        throw new Error(
          `HAPI process ${recordedPid} from ${relative(pidFile)} is running but ${baseUrl}/metadata does not respond; see ${relative(logFile)}, or run "node scripts/hapi.ts stop"`,
        )
      }
      await rm(pidFile, { force: true })
    }

    await ensureHapiBuilt({ log })
    await ensureHapiDatabase(settings)

    // The JVM loads classes from its jar while it runs, and a rebuild replaces the jar in target/
    // (a running server then failed with NoClassDefFoundError). So each server runs from a copy.
    const runJar = runJarFor(port)
    await withLock('build', log, () => copyFile(JAR_PATH, runJar))

    const logFd = openSync(logFile, 'w')
    const child = spawn(javaCommand(), jvmArguments(settings, runJar, options.jvmOptions ?? []), {
      cwd: REPOSITORY_ROOT,
      detached: true,
      stdio: ['ignore', logFd, logFd],
      // Passed in the environment rather than on the command line, where `ps` would show it.
      env: { ...process.env, SPRING_DATASOURCE_PASSWORD: settings.pgPassword },
    })
    closeSync(logFd)
    let exitDescription: string | undefined
    child.on('exit', (code, signal) => {
      exitDescription = signal === null ? `exit code ${String(code)}` : `signal ${signal}`
    })
    try {
      // Rejects with the 'error' event when the java binary cannot be run.
      await once(child, 'spawn')
    } catch (error) {
      throw new Error(
        `Could not run ${javaCommand()}: ${error instanceof Error ? error.message : String(error)}. Is Java 17 installed?`,
        { cause: error },
      )
    }
    child.unref()
    const pid = child.pid
    if (pid === undefined) throw new Error(`Could not start ${javaCommand()}: no process id`)
    await writeFile(pidFile, `${pid}\n`)
    log(`Started HAPI (pid ${pid}, log ${relative(logFile)}), waiting for ${baseUrl}/metadata`)

    const startedAt = Date.now()
    const outcome = await waitUntilResponding(baseUrl, timeoutMs, () => exitDescription)
    if (outcome.status !== 'ready') {
      if (outcome.status === 'timeout') await terminate(pid, 5_000)
      await rm(pidFile, { force: true })
      const reason =
        outcome.status === 'timeout'
          ? `did not return 200 for GET ${baseUrl}/metadata within ${timeoutMs / 1000} s and was killed`
          : `exited during start-up (${outcome.exit})`
      throw new Error(
        `HAPI ${reason}; see ${relative(logFile)}. Last lines:\n${await tailOfFile(logFile, 25)}`,
      )
    }
    log(`HAPI is ready at ${baseUrl} after ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
    return {
      baseUrl,
      pid,
      startedByUs: true,
      stop: () => stopHapi({ port, log }).then(() => undefined),
    }
  })
}

/**
 * Stops the HAPI server whose pid file exists for the port: SIGTERM, then SIGKILL after 20 s.
 * Removes the pid file. Returns whether a running process was stopped.
 */
export async function stopHapi(options: HapiOptions = {}): Promise<{ stopped: boolean }> {
  const { port, log } = resolveSettings(options)
  const pidFile = pidFileFor(port)
  const pid = await readPid(pidFile)
  if (pid === undefined) {
    log(`No HAPI pid file at ${relative(pidFile)}; nothing to stop`)
    return { stopped: false }
  }
  if (!isProcessRunning(pid) || !isHapiProcess(pid)) {
    log(`HAPI process ${pid} from ${relative(pidFile)} is not running; removing the pid file`)
    await rm(pidFile, { force: true })
    return { stopped: false }
  }

  log(`Stopping HAPI (pid ${pid})`)
  const startedAt = Date.now()
  const killed = await terminate(pid, STOP_GRACE_MS)
  await rm(pidFile, { force: true })
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1)
  log(
    killed
      ? `HAPI did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM and was killed`
      : `HAPI stopped in ${seconds} s`,
  )
  return { stopped: true }
}

/** Reports the pid file, whether its process runs and whether /fhir/metadata responds. */
export async function getHapiStatus(options: HapiOptions = {}): Promise<HapiStatus> {
  const { port } = resolveSettings(options)
  const baseUrl = baseUrlFor(port)
  const pidFile = pidFileFor(port)
  const pid = await readPid(pidFile)
  return {
    baseUrl,
    pidFile,
    ...(pid === undefined ? {} : { pid }),
    processRunning: pid !== undefined && isProcessRunning(pid) && isHapiProcess(pid),
    responding: await isResponding(baseUrl),
  }
}

/** Starts HAPI and keeps it running until SIGINT or SIGTERM, or until the JVM exits. */
async function runInForeground(): Promise<void> {
  const logFile = relative(logFileFor(resolveSettings().port))
  const handle = await startHapi()
  defaultLog(`HAPI FHIR base URL: ${handle.baseUrl}. Press Ctrl-C to stop.`)
  await new Promise<void>((resolve) => {
    let stopping = false
    // The child process is detached and unreferenced, so this timer is what keeps Node running.
    const watcher = setInterval(() => {
      if (handle.startedByUs && !isProcessRunning(handle.pid)) {
        process.exitCode = 1
        stop(`HAPI (pid ${handle.pid}) exited; see ${logFile}`)
      }
    }, 2_000)
    const stop = (reason: string) => {
      if (stopping) return
      stopping = true
      clearInterval(watcher)
      defaultLog(`${reason}; stopping`)
      void handle.stop().then(resolve)
    }
    process.once('SIGINT', () => {
      stop('SIGINT received')
    })
    process.once('SIGTERM', () => {
      stop('SIGTERM received')
    })
  })
}

const USAGE = `Usage: node scripts/hapi.ts <command>

Commands:
  build   build the HAPI server jar with Maven if pom.xml or src/ changed
  start   build if needed, create the database, start HAPI in the background and wait for it
  stop    stop the HAPI server named by .hapi/hapi-<port>.pid
  status  show the pid file, the process and whether /fhir/metadata responds
  run     start HAPI and stop it again on Ctrl-C (SIGINT) or SIGTERM

Environment: HAPI_PORT (8080), HAPI_DB_NAME (brain_registry_hapi), PGHOST, PGPORT, PGUSER,
PGPASSWORD, HAPI_START_TIMEOUT_MS (240000), HAPI_JAVA_OPTS, JAVA_HOME.`

async function main(command: string): Promise<number> {
  switch (command) {
    case 'build':
      await ensureHapiBuilt()
      return 0
    case 'start': {
      const handle = await startHapi()
      defaultLog(`HAPI FHIR base URL: ${handle.baseUrl}`)
      return 0
    }
    case 'stop':
      await stopHapi()
      return 0
    case 'status': {
      const status = await getHapiStatus()
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
      return status.responding ? 0 : 3
    }
    case 'run':
      await runInForeground()
      return process.exitCode === 1 ? 1 : 0
    default:
      process.stderr.write(`${USAGE}\n`)
      return 2
  }
}

if (
  process.argv[1] !== undefined &&
  path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  try {
    process.exitCode = await main(process.argv[2] ?? '')
  } catch (error) {
    defaultLog(error instanceof Error ? error.message : String(error))
    process.exitCode = 1
  }
}
