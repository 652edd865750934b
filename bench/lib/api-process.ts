/**
 * The API child process of the API benchmark: its configuration, start, stop and CPU time.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { Config } from '../../src/platform/config.ts'
import { sleep } from './stats.ts'
import { freePort, registryEnv } from './engine-process.ts'

export { freePort }

/** Time the API child may take to migrate and listen, in milliseconds. */
const START_TIMEOUT_MS = 60_000

/**
 * Starts `src/main.ts` with `config` (under `node --cpu-prof` when `profileDir` is given) and
 * waits until GET /health/live responds.
 */
export async function startApi(
  config: Config,
  profileDir: string | undefined,
): Promise<ChildProcess> {
  const nodeOptions = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir]
  const child = spawn('node_modules/.bin/node', [...nodeOptions, 'src/main.ts'], {
    env: registryEnv(config),
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`The API exited with ${String(child.exitCode)}`)
    const live = await fetch(`http://127.0.0.1:${String(config.PORT)}/health/live`).catch(
      () => null,
    )
    if (live?.ok) return child
    await sleep(200)
  }
  child.kill('SIGTERM')
  throw new Error(`The API did not respond within ${String(START_TIMEOUT_MS)} ms`)
}

/** Stops the API child with SIGTERM, so it shuts down and writes its CPU profile. */
export async function stopApi(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

/** Clock ticks per second of /proc/<pid>/stat; 100 on Linux for x86-64 and arm64. */
const CLOCK_TICKS_PER_SECOND = 100

/**
 * CPU seconds (user and system) a process has used so far, from /proc; NaN where there is no
 * /proc. CPU per request varies less than latency on a busy machine, so fixes show in it.
 */
export async function cpuSecondsOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN
  try {
    const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8')
    // Fields after the command name, which may contain spaces, start at field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}
