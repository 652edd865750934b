/**
 * Measures the backfill command as operators run it, `npm run backfill`, in a child process. It
 * reports wall time, resources per second and the child's peak RSS for each direction at a small
 * and a large size, so a peak that grows with the row count shows as a ratio above 1.
 *
 *   npm run bench:backfill -- [--small N] [--large N] [--conditions N] [--fhir-base-url URL]
 *
 * BENCH_BACKFILL_COMMAND replaces the command measured, e.g. `node scripts/old-backfill.ts`.
 *
 * from-fhir: the benchmark writes the patients, each with neurological Conditions, to HAPI in
 * transaction Bundles (not timed), then times `--direction from-fhir` on fresh registry schemas.
 * The Patients carry an identifier system of the run, which the command's `--search` names, so
 * other data on the same HAPI is left alone. to-fhir: the benchmark inserts pending patients and
 * conditions into fresh registry schemas through the repositories (not timed), then times
 * `--direction to-fhir`. Each round checks the other side has every row, then deletes what it
 * wrote to HAPI and drops its schemas.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createRegistry } from '../src/app.ts'
import type { FhirClient } from '../src/fhir/fhir-client.ts'
import type { Config } from '../src/platform/config.ts'
import { createLogger } from '../src/platform/logger.ts'
import {
  checkNeurologyCodings,
  countInHapi,
  countRows,
  deleteFromHapi,
  fillRegistry,
  hospitalClient,
  loadHospitalPatients,
} from './lib/backfill-data.ts'
import { parseBenchArgs } from './lib/args.ts'
import {
  acquireBenchHapi,
  benchConfig,
  dropBenchSchemas,
  printEnvironment,
} from './lib/environment.ts'
import { formatRate, formatRatio, sleep } from './lib/stats.ts'
import { printTable, printTarget, say } from './lib/table.ts'

const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
/** Interval of the samples of the child's /proc status. */
const SAMPLE_INTERVAL_MS = 50
const PEAK_RSS_TARGET_MB = 300

const args = parseBenchArgs(
  'npm run bench:backfill --',
  'Times `npm run backfill` per direction at two sizes and reports its peak RSS.',
  {
    small: { default: 2_000, description: 'patients of the small round' },
    large: { default: 10_000, description: 'patients of the large round' },
    conditions: { default: 2, description: 'neurological Conditions per patient' },
  },
)

type Direction = 'from-fhir' | 'to-fhir'

interface Measurement {
  direction: Direction
  patients: number
  resources: number
  seconds: number
  peakRssMb: number
  /** RSS when the command had loaded its modules, from its last log line. */
  startRssMb: number
}

interface ChildRun {
  exitCode: number | null
  seconds: number
  /** VmHWM, the kernel's peak RSS of the child, as last read before it exited. */
  peakRssMb: number
  /** JSON log lines of the child whose message is in LOG_MESSAGES_KEPT. */
  lines: Record<string, unknown>[]
}

/**
 * Set by the first Ctrl-C. The terminal sends SIGINT to the child as well, which stops after its
 * page, and the round then cleans up before the run ends. A second Ctrl-C exits at once.
 */
let interrupted = false
process.on('SIGINT', () => {
  if (interrupted) process.exit(130)
  interrupted = true
  say('Interrupted: cleaning up the round in progress; press Ctrl-C again to quit at once')
})

function stopWhenInterrupted(): void {
  if (wasInterrupted()) throw new Error('Interrupted')
}

/** Reads the flag through a call, which the SIGINT handler may have set meanwhile. */
function wasInterrupted(): boolean {
  return interrupted
}

const LOG_MESSAGES_KEPT = new Set(['Backfill finished', 'Backfill command ended'])

/**
 * Returns the command line of `npm run backfill`, with `node` replaced by this Node binary. The
 * BENCH_BACKFILL_COMMAND variable names another command line to measure, such as an older copy
 * of the script, for a before-and-after comparison on the same data.
 */
async function backfillCommand(): Promise<string[]> {
  let commandLine = process.env.BENCH_BACKFILL_COMMAND
  if (commandLine === undefined) {
    const manifest = JSON.parse(
      await readFile(path.join(REPOSITORY_ROOT, 'package.json'), 'utf8'),
    ) as { scripts: Record<string, string | undefined> }
    commandLine = manifest.scripts.backfill ?? ''
  }
  const words = commandLine.split(/\s+/).filter((word) => word !== '')
  if (words[0] !== 'node')
    throw new Error(`The backfill command "${commandLine}" does not start with node`)
  return [process.execPath, ...words.slice(1)]
}

/** Environment of the child: this process's, with every setting of `config` that it names. */
function childEnv(config: Config): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: config.DATABASE_URL,
    DATABASE_SCHEMA: config.DATABASE_SCHEMA,
    QUEUE_SCHEMA: config.QUEUE_SCHEMA,
    FHIR_BASE_URL: config.FHIR_BASE_URL,
    REGISTRY_IDENTIFIER_SYSTEM: config.REGISTRY_IDENTIFIER_SYSTEM,
    FHIR_SOURCE_URI: config.FHIR_SOURCE_URI,
    REGISTER_SUBSCRIPTIONS: 'false',
    // The command's default level: one line per page, and one per enrolled patient.
    LOG_LEVEL: 'info',
  }
}

function statusValueKb(status: string, field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return match ? Number(match[1]) : undefined
}

/** Runs the backfill command and samples the child's VmHWM until it exits. */
async function runBackfill(command: readonly string[], argv: string[], config: Config) {
  stopWhenInterrupted()
  const [executable = process.execPath, ...commandArgs] = command
  const started = performance.now()
  const child = spawn(executable, [...commandArgs, ...argv], {
    cwd: REPOSITORY_ROOT,
    env: childEnv(config),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  // 'close' comes after 'exit', once stdout has delivered its last lines.
  const closed = once(child, 'close')
  const lines: Record<string, unknown>[] = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return
    const parsed = JSON.parse(line) as Record<string, unknown>
    if (LOG_MESSAGES_KEPT.has(String(parsed.message))) lines.push(parsed)
  })

  let peakKb = 0
  let exitCode: number | null | undefined
  void exited.then(([code]) => {
    exitCode = code
  })
  while (exitCode === undefined) {
    try {
      const status = await readFile(`/proc/${String(child.pid)}/status`, 'utf8')
      peakKb = Math.max(peakKb, statusValueKb(status, 'VmHWM') ?? 0)
    } catch {
      // The child exited between the check and the read, so its last sample is the peak.
    }
    await Promise.race([sleep(SAMPLE_INTERVAL_MS), exited])
  }
  const seconds = (performance.now() - started) / 1000
  await closed
  const run: ChildRun = {
    exitCode,
    seconds,
    peakRssMb: peakKb / 1024,
    lines,
  }
  return run
}

/** Creates the registry's schemas, so the timed command finds them migrated, as in production. */
async function migrateSchemas(config: Config): Promise<void> {
  const registry = await createRegistry(config, {
    logger: createLogger('warn', { bench: 'backfill' }),
  })
  await registry.stop()
}

/** Fails the run when the child failed or left rows out. */
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message)
}

/** Deletes what a round wrote to HAPI and drops its schemas, even when the delete fails. */
async function cleanUp(hospital: FhirClient, written: readonly string[], config: Config) {
  try {
    const seconds = await deleteFromHapi(hospital, written)
    say(
      `  deleted the round's ${String(written.length)} resources from HAPI in ${seconds.toFixed(1)} s`,
    )
  } finally {
    await dropBenchSchemas(config)
  }
}

function measurementOf(direction: Direction, patients: number, run: ChildRun): Measurement {
  const ended = run.lines.find((line) => line.message === 'Backfill command ended')
  return {
    direction,
    patients,
    resources: patients * (1 + args.conditions),
    seconds: run.seconds,
    peakRssMb: run.peakRssMb,
    startRssMb: Number(ended?.rssAtStartBytes ?? Number.NaN) / 2 ** 20,
  }
}

async function fromFhirRound(command: string[], baseUrl: string, patients: number) {
  const config = benchConfig(`backfill_from_${String(patients)}`, baseUrl)
  const hospital = hospitalClient(baseUrl)
  const mrnSystem = `https://hospital.example.org/bench/${config.DATABASE_SCHEMA}/mrn`
  const written: string[] = []
  try {
    const loadStarted = performance.now()
    await loadHospitalPatients(hospital, mrnSystem, patients, args.conditions, written)
    say(
      `- from-fhir, ${String(patients)} patients: HAPI loaded with ${String(written.length)} resources in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s (not timed)`,
    )
    await migrateSchemas(config)

    const run = await runBackfill(
      command,
      ['--direction', 'from-fhir', '--search', `identifier=${mrnSystem}|`],
      config,
    )
    check(run.exitCode === 0, `The from-fhir backfill exited with ${String(run.exitCode)}`)
    const enrolled = await countRows(
      config,
      "select count(*) from patients where source = 'external'",
    )
    const conditions = await countRows(config, 'select count(*) from conditions')
    check(enrolled === patients, `from-fhir enrolled ${String(enrolled)} of ${String(patients)}`)
    check(
      conditions === patients * args.conditions,
      `from-fhir imported ${String(conditions)} of ${String(patients * args.conditions)} conditions`,
    )
    return measurementOf('from-fhir', patients, run)
  } finally {
    await cleanUp(hospital, written, config)
  }
}

async function toFhirRound(command: string[], baseUrl: string, patients: number) {
  const config = benchConfig(`backfill_to_${String(patients)}`, baseUrl)
  const hospital = hospitalClient(baseUrl)
  let written: string[] = []
  try {
    const fillStarted = performance.now()
    written = await fillRegistry(config, patients, args.conditions)
    say(
      `- to-fhir, ${String(patients)} patients: registry filled with ${String(written.length)} rows in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s (not timed)`,
    )

    const run = await runBackfill(command, ['--direction', 'to-fhir'], config)
    check(run.exitCode === 0, `The to-fhir backfill exited with ${String(run.exitCode)}`)
    const unsynced = await countRows(
      config,
      "select (select count(*) from patients where sync_state <> 'synced' or fhir_version_id is null) + (select count(*) from conditions where sync_state <> 'synced' or fhir_version_id is null) as count",
    )
    const identifier = `${config.REGISTRY_IDENTIFIER_SYSTEM}|`
    const patientsInHapi = await countInHapi(hospital, 'Patient', { identifier })
    const conditionsInHapi = await countInHapi(hospital, 'Condition', {
      'patient.identifier': identifier,
    })
    check(unsynced === 0, `to-fhir left ${String(unsynced)} rows unsynced`)
    check(
      patientsInHapi === patients,
      `HAPI has ${String(patientsInHapi)} of ${String(patients)} patients`,
    )
    check(
      conditionsInHapi === patients * args.conditions,
      `HAPI has ${String(conditionsInHapi)} of ${String(patients * args.conditions)} conditions`,
    )
    return measurementOf('to-fhir', patients, run)
  } finally {
    await cleanUp(hospital, written, config)
  }
}

const hapi = await acquireBenchHapi(args.fhirBaseUrl)
const measurements: Measurement[] = []
try {
  const command = await backfillCommand()
  const sizes = [args.small, args.large]
  say(`# Backfill: ${sizes.join(' and ')} patients with ${String(args.conditions)} Conditions each`)
  say()
  const environmentConfig = benchConfig('backfill_environment', hapi.baseUrl)
  checkNeurologyCodings(environmentConfig)
  await printEnvironment(environmentConfig)
  say(`Command: ${['node', ...command.slice(1)].join(' ')} --direction ...`)
  say(
    `Peak RSS: the child's VmHWM from /proc/<pid>/status, read every ${String(SAMPLE_INTERVAL_MS)} ms until it exits.`,
  )
  say()

  for (const patients of sizes) {
    stopWhenInterrupted()
    measurements.push(await fromFhirRound(command, hapi.baseUrl, patients))
    stopWhenInterrupted()
    measurements.push(await toFhirRound(command, hapi.baseUrl, patients))
  }
  say()
  printTable(
    [
      'direction',
      'patients',
      'resources',
      'seconds',
      'resources/s',
      'peak RSS MB',
      'RSS at start MB',
    ],
    measurements.map((measurement) => [
      measurement.direction,
      String(measurement.patients),
      String(measurement.resources),
      measurement.seconds.toFixed(1),
      formatRate(measurement.resources, measurement.seconds),
      measurement.peakRssMb.toFixed(0),
      measurement.startRssMb.toFixed(0),
    ]),
  )
  for (const direction of ['from-fhir', 'to-fhir'] as const) {
    const [small, large] = sizes.map((patients) =>
      measurements.find((item) => item.direction === direction && item.patients === patients),
    )
    if (small === undefined || large === undefined) continue
    const peak = Math.max(small.peakRssMb, large.peakRssMb)
    printTarget(
      `peak RSS under ${String(PEAK_RSS_TARGET_MB)} MB whatever the row count (${direction})`,
      `${large.peakRssMb.toFixed(0)} MB at ${String(large.patients)} patients, ${small.peakRssMb.toFixed(0)} MB at ${String(small.patients)}, ratio ${formatRatio(large.peakRssMb / small.peakRssMb)}`,
      `under ${String(PEAK_RSS_TARGET_MB)} MB at both sizes`,
      peak < PEAK_RSS_TARGET_MB,
    )
  }
} catch (error) {
  // After Ctrl-C the round in progress has cleaned up, and its failure is the interrupt itself.
  if (!wasInterrupted()) throw error
  say('Stopped after the interrupt; no figures for the unfinished rounds')
  process.exitCode = 130
} finally {
  await hapi.release()
}
