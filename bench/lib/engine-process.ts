/**
 * Runs the registry as production does, `node src/main.ts` in a child process, with the settings
 * of a benchmark's own config, so the code under measurement has an event loop of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Config } from '../../src/platform/config.ts'
import { sleep } from './stats.ts'

const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Time allowed until the API of a child registry returns 200 for GET /health/live. */
const READY_TIMEOUT_MS = 60_000

/** Time a child registry gets to stop after SIGTERM before it is killed. */
const STOP_GRACE_MS = 15_000

export interface EngineProcess {
  pid: number
  /** Base URL of the child's API; empty for PROCESS_ROLE=worker, which serves no API. */
  url: string
  /** Stops the child with SIGTERM, and SIGKILL after 15 s. */
  stop(): Promise<void>
}

/**
 * Returns the environment of a child registry: this process's environment with every variable
 * `config` was loaded from, so the child uses the same schemas, HAPI, identifier system and key.
 */
export function registryEnv(
  config: Config,
  overrides: Record<string, string> = {},
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env }
  for (const [key, value] of Object.entries(config)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) continue
    if (Array.isArray(value)) env[key] = value.join(',')
    else if (typeof value === 'string') env[key] = value
    else if (typeof value === 'number' || typeof value === 'boolean') env[key] = String(value)
  }
  return { ...env, ...overrides }
}

/**
 * Returns the settings for profiling the child: BENCH_CHILD_NODE_OPTIONS becomes its NODE_OPTIONS (such as
 * `--cpu-prof --cpu-prof-dir=/tmp/profiles`), and BENCH_CHILD_LOG_LEVEL its LOG_LEVEL.
 */
function childSettings(): Record<string, string> {
  const settings: Record<string, string> = {}
  const nodeOptions = process.env.BENCH_CHILD_NODE_OPTIONS
  const logLevel = process.env.BENCH_CHILD_LOG_LEVEL
  if (nodeOptions) settings.NODE_OPTIONS = nodeOptions
  if (logLevel) settings.LOG_LEVEL = logLevel
  return settings
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('No port was assigned')
  return address.port
}

/** Stop functions of the registry processes started here that are still running. */
const running = new Set<() => Promise<void>>()

/** Stops every registry process started here, as a benchmark's clean-up after an interrupt. */
export async function stopEngineProcesses(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()))
}

/**
 * Starts `node src/main.ts` with PROCESS_ROLE `role`. For a role with an API it waits until
 * `GET /health/live` returns 200; a worker is returned at once, as it has no signal of being ready.
 */
export async function startEngineProcess(
  config: Config,
  role: 'all' | 'api' | 'worker',
  overrides: Record<string, string> = {},
): Promise<EngineProcess> {
  const port = role === 'worker' ? 0 : await freePort()
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: REPOSITORY_ROOT,
    env: registryEnv(config, {
      PROCESS_ROLE: role,
      PORT: String(port),
      METRICS_PORT: '',
      ...childSettings(),
      ...overrides,
    }),
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const exited = once(child, 'exit')
  const stop = () => stopChild(child, exited)
  running.add(stop)
  void exited.then(() => running.delete(stop))
  const handle: EngineProcess = {
    pid: child.pid ?? 0,
    url: role === 'worker' ? '' : `http://127.0.0.1:${String(port)}`,
    stop,
  }
  if (role === 'worker') return handle

  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`The registry exited with ${String(child.exitCode)} before it was ready`)
    }
    try {
      const response = await fetch(`${handle.url}/health/live`)
      await response.arrayBuffer()
      if (response.ok) return handle
    } catch {
      // Not listening yet.
    }
    await sleep(100)
  }
  await handle.stop()
  throw new Error(
    `The registry's API did not respond within ${String(READY_TIMEOUT_MS)} ms; see its log above`,
  )
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
  await exited
  clearTimeout(timer)
}
