/**
 * Measures how long a Patient edit made straight in HAPI takes to show in the registry, against
 * how long HAPI itself takes to deliver it. One run starts, on one HAPI:
 *
 * - the registry as in production, as a child process (`node src/main.ts`, PROCESS_ROLE=all),
 *   which registers its own rest-hook Subscriptions on HAPI;
 * - a bare receiver, a `node:http` server in this process that responds 200 at once and records
 *   when each delivery arrives, with Subscriptions of the same criteria as the registry's.
 *
 * It creates patients with a multiple sclerosis Condition in HAPI, waits until the registry has
 * enrolled them and is in step, then PUTs a changed telecom of one patient after another at a
 * steady rate. For each write it takes t0 when HAPI responds, t_bare when the delivery reaches the
 * bare receiver and t_registry when the registry's row records the new version (polled every
 * 5 ms). It prints percentiles of HAPI's delivery delay (t_bare − t0), the registry's visibility
 * (t_registry − t0) and the engine's share (t_registry − t_bare). It deletes both sets of
 * Subscriptions, stops the registry and drops its schemas at the end; the patients stay in HAPI.
 *
 *   npm run bench:inbound -- [--rate N] [--seconds N] [--patients N] [--warmup N] [--fhir-base-url URL]
 *
 * BENCH_REGISTRY_CPU_PROF_DIR=dir runs the registry with `--cpu-prof` and writes its profile there.
 */
import type { Bundle, Condition, Patient } from '@medplum/fhirtypes'
import pg from 'pg'
import { FhirClient } from '../src/fhir/fhir-client.ts'
import { deleteSubscriptions } from '../src/fhir/subscriptions.ts'
import type { Config } from '../src/platform/config.ts'
import { createLogger } from '../src/platform/logger.ts'
import { parseBenchArgs } from './lib/args.ts'
import {
  acquireBenchHapi,
  benchConfig,
  dropBenchSchemas,
  printEnvironment,
} from './lib/environment.ts'
import { startBareReceiver, type BareReceiver } from './lib/bare-receiver.ts'
import {
  mergeReadTimes,
  registryStages,
  startRegistryProcess,
  type RegistryProcess,
} from './lib/inbound-registry.ts'
import { formatMs, sleep, summarizeLatencies } from './lib/stats.ts'
import { printTable, printTarget, say } from './lib/table.ts'

const options = parseBenchArgs(
  'npm run bench:inbound --',
  'Measures the delay from a Patient write in HAPI to the change in the registry, beside HAPI’s own delivery delay.',
  {
    rate: {
      default: 5,
      description: 'Patient writes to HAPI per second',
      integer: false,
      min: 0.1,
    },
    seconds: { default: 60, description: 'length of the measured phase, in seconds' },
    patients: {
      default: 50,
      description:
        'patients created in HAPI and written in turn; keep it at 5 × rate or more, so a patient’s writes lie seconds apart',
    },
    warmup: {
      default: 10,
      description: 'writes before the measured ones, left out of the figures',
      min: 0,
    },
  },
)

/** Time allowed for a write to reach the bare receiver and the registry after the last write. */
const SETTLE_TIMEOUT_MS = 30_000
/** How often the registry's rows are polled for the version a write made, in milliseconds. */
const POLL_INTERVAL_MS = 5
/** The engine's share of the delay that the target allows at p95, in milliseconds. */
const TARGET_SHARE_MS = 50
/** System of the medical record numbers the benchmark's hospital issues. */
const MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.19.5.99999.1'
/** Multiple sclerosis, a code of the registry's neurological value set, so the patient enrols. */
const MULTIPLE_SCLEROSIS = { system: 'http://snomed.info/sct', code: '24700007' }

/** One write to HAPI. Its times are `performance.now()` of this process, in milliseconds. */
interface Write {
  patientId: string
  versionId: number
  measured: boolean
  hapiRespondedAt: number
  registryVisibleAt?: number
}

const run = Date.now().toString(36)
const hapi = await acquireBenchHapi(options.fhirBaseUrl)
const config = benchConfig('inbound', hapi.baseUrl, {
  SUBSCRIPTION_SECRET: `bench-inbound-secret-${run}`,
  SUBSCRIPTION_ID_PREFIX: `bench-inbound-${run}`,
  REGISTER_SUBSCRIPTIONS: 'true',
  PROCESS_ROLE: 'all',
  // Info, as in production, so the log has a line with the duration of every merge.
  LOG_LEVEL: 'info',
})
const hospital = new FhirClient({
  baseUrl: hapi.baseUrl,
  timeoutMs: 30_000,
  sourceUri: `https://hospital.example.org/bench/${run}`,
})
const logger = createLogger('warn', { bench: 'inbound' })
const bareSubscriptionPrefix = `bench-bare-${run}`

let bare: BareReceiver | undefined
let registry: RegistryProcess | undefined
const database = new pg.Client({ connectionString: config.DATABASE_URL })
let failed = false
const interruption = { requested: false }

// Ctrl-C ends the run at its next step and still cleans up. Otherwise HAPI would keep both sets
// of Subscriptions and deliver to closed ports, and the schemas would stay in the database.
process.once('SIGINT', () => {
  interruption.requested = true
  say('Interrupted; cleaning up')
})

class InterruptedError extends Error {}

function stopIfInterrupted(): void {
  if (interruption.requested) throw new InterruptedError('Interrupted by SIGINT')
}

say('# Inbound latency: HAPI write to registry row')
say()
await printEnvironment(config)
try {
  await database.connect()
  bare = await startBareReceiver(hospital, bareSubscriptionPrefix, logger)
  registry = await startRegistryProcess(config, hospital)
  say(`Registry log: ${registry.logFile}`)
  stopIfInterrupted()

  const patients = await createPatients(options.patients)
  const bases = await waitUntilEnrolled(config, patients)

  const writes = await writeAtSteadyRate(bases, bare)
  stopIfInterrupted()
  const registryLost = writes.filter((write) => write.registryVisibleAt === undefined).length
  await report(config, writes, bare, registry.logFile)
  if (registryLost > 0) {
    say(
      `${String(registryLost)} writes never showed in the registry. Its log is ${registry.logFile}`,
    )
    failed = true
  }
} catch (error) {
  if (!(error instanceof InterruptedError)) {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    )
  }
  failed = true
} finally {
  await cleanUp()
}
if (interruption.requested) process.exit(130)
process.exit(failed ? 1 : 0)

/** Creates patients in HAPI, each with a multiple sclerosis Condition, in one transaction each. */
async function createPatients(count: number): Promise<string[]> {
  say(`Creating ${String(count)} patients with a neurological Condition in HAPI`)
  const ids: string[] = []
  for (let index = 0; index < count; index++) {
    stopIfInterrupted()
    const id = `inbound-${run}-${String(index)}`
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: {
            resourceType: 'Patient',
            id,
            identifier: [{ use: 'usual', system: MRN_SYSTEM, value: `${run}-${String(index)}` }],
            name: [{ use: 'official', family: `Inbound${String(index)}`, given: ['Noor'] }],
            birthDate: '1968-03-14',
            gender: 'female',
          },
          request: { method: 'PUT', url: `Patient/${id}` },
        },
        {
          resource: {
            resourceType: 'Condition',
            id: `${id}-ms`,
            subject: { reference: `Patient/${id}` },
            code: { coding: [MULTIPLE_SCLEROSIS] },
            recordedDate: '2019-06-01',
          } satisfies Condition,
          request: { method: 'PUT', url: `Condition/${id}-ms` },
        },
      ],
    }
    await hospital.transaction(bundle)
    ids.push(id)
  }
  return ids
}

/**
 * Waits until the registry has enrolled every patient and recorded HAPI's current version of it,
 * which comes after the push that adds the registry identifier, and no push is left to run.
 * Returns that version of each patient, in the order of `patients`.
 */
async function waitUntilEnrolled(config: Config, patients: readonly string[]): Promise<Patient[]> {
  const deadline = Date.now() + 120_000 + patients.length * 1_000
  for (;;) {
    const rows = await database.query<{ fhir_id: string; fhir_version_id: number | null }>(
      `select fhir_id, fhir_version_id from ${config.DATABASE_SCHEMA}.patients
        where fhir_id = any($1) and sync_state = 'synced'`,
      [patients],
    )
    const open = await database.query<{ count: string }>(
      `select count(*) from ${config.QUEUE_SCHEMA}.job
        where name in ('fhir-push', 'fhir-merge') and state in ('created', 'retry', 'active')`,
    )
    if (rows.rows.length === patients.length && open.rows[0]?.count === '0') {
      const recorded = new Map(rows.rows.map((row) => [row.fhir_id, row.fhir_version_id]))
      const current = await Promise.all(patients.map((id) => hospital.read<Patient>('Patient', id)))
      const inStep = current.every(
        (patient) => Number(patient?.meta?.versionId) === recorded.get(patient?.id ?? ''),
      )
      if (inStep) {
        say(`All ${String(patients.length)} patients enrolled and in step`)
        say()
        return current.filter((patient) => patient !== null)
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out with ${String(rows.rows.length)} of ${String(patients.length)} patients enrolled and in step; see the registry's log`,
      )
    }
    await sleep(500)
    stopIfInterrupted()
  }
}

/**
 * PUTs a new telecom of one patient after another, `--rate` per second, while polling the
 * registry for the version each write made. Returns once every write has shown in the registry
 * and at the bare receiver, or SETTLE_TIMEOUT_MS after the last write.
 */
async function writeAtSteadyRate(bases: Patient[], receiver: BareReceiver): Promise<Write[]> {
  const total = options.warmup + Math.round(options.rate * options.seconds)
  const intervalMs = 1000 / options.rate
  say(
    `Writing ${String(total - options.warmup)} measured Patient edits (after ${String(options.warmup)} warm-up ones), ${String(options.rate)} per second`,
  )
  const writes: Write[] = []
  let writing = true
  const polling = pollRegistry(writes, () => writing)

  const started = performance.now()
  const inFlight: Promise<void>[] = []
  for (let index = 0; index < total; index++) {
    if (interruption.requested) break
    const wait = started + index * intervalMs - performance.now()
    if (wait > 0) await sleep(wait)
    const slot = index % bases.length
    const base = bases[slot]
    if (base === undefined) throw new Error(`No patient in slot ${String(slot)}`)
    const edited: Patient = {
      ...base,
      telecom: [
        { system: 'phone', value: `+46 8 555 ${String(index).padStart(4, '0')}`, use: 'home' },
      ],
    }
    inFlight.push(
      hospital.update(edited).then((stored) => {
        const hapiRespondedAt = performance.now()
        bases[slot] = stored
        writes.push({
          patientId: stored.id ?? '',
          versionId: Number(stored.meta?.versionId),
          measured: index >= options.warmup,
          hapiRespondedAt,
        })
      }),
    )
  }
  await Promise.all(inFlight)

  const deadline = performance.now() + SETTLE_TIMEOUT_MS
  while (performance.now() < deadline && !interruption.requested) {
    const settled = writes.every(
      (write) =>
        write.registryVisibleAt !== undefined &&
        receiver.arrivalOf('Patient', write.patientId, write.versionId) !== undefined,
    )
    if (settled) break
    await sleep(50)
  }
  writing = false
  await polling
  return writes
}

/** Records when the registry's row of each write's patient first shows the write's version. */
async function pollRegistry(writes: Write[], active: () => boolean): Promise<void> {
  while (active()) {
    const started = performance.now()
    const waiting = writes.filter((write) => write.registryVisibleAt === undefined)
    if (waiting.length > 0) {
      const result = await database.query<{ fhir_id: string; fhir_version_id: number | null }>(
        `select fhir_id, fhir_version_id from ${config.DATABASE_SCHEMA}.patients where fhir_id = any($1)`,
        [[...new Set(waiting.map((write) => write.patientId))]],
      )
      const seenAt = performance.now()
      const versions = new Map(result.rows.map((row) => [row.fhir_id, row.fhir_version_id ?? 0]))
      for (const write of waiting) {
        if ((versions.get(write.patientId) ?? 0) >= write.versionId)
          write.registryVisibleAt = seenAt
      }
    }
    const wait = started + POLL_INTERVAL_MS - performance.now()
    if (wait > 0) await sleep(wait)
  }
}

/** Prints the latency table, where the engine's share goes, and the target checks. */
async function report(
  config: Config,
  writes: readonly Write[],
  receiver: BareReceiver,
  logFile: string,
): Promise<void> {
  const measured = writes.filter((write) => write.measured)
  const delivery: number[] = []
  const visibility: number[] = []
  const share: number[] = []
  let bareMissed = 0
  for (const write of measured) {
    const bareAt = receiver.arrivalOf('Patient', write.patientId, write.versionId)
    if (bareAt === undefined) bareMissed++
    else delivery.push(bareAt - write.hapiRespondedAt)
    if (write.registryVisibleAt !== undefined) {
      visibility.push(write.registryVisibleAt - write.hapiRespondedAt)
      if (bareAt !== undefined) share.push(write.registryVisibleAt - bareAt)
    }
  }

  const row = (label: string, values: readonly number[]) => {
    const summary = summarizeLatencies(values)
    return [
      label,
      String(summary.count),
      formatMs(summary.p50Ms),
      formatMs(summary.p95Ms),
      formatMs(summary.p99Ms),
      formatMs(summary.maxMs),
      formatMs(summary.meanMs),
    ]
  }
  const headers = ['delay', 'writes', 'p50', 'p95', 'p99', 'max', 'mean']
  say()
  say(`## Per write (${String(measured.length)} writes)`)
  say()
  printTable(headers, [
    row('HAPI delivery (t_bare − t0)', delivery),
    row('registry visible (t_registry − t0)', visibility),
    row('engine share (t_registry − t_bare)', share),
  ])
  if (bareMissed > 0) say(`${String(bareMissed)} writes never reached the bare receiver.`)

  say('## Where the engine’s share goes (from the registry’s own records)')
  say()
  const stages = await registryStages(database, config, measured, receiver)
  printTable(headers, [
    row('receiver (t_bare → its transaction began)', stages.receiver),
    row('store and queue (→ merge job started)', stages.queueWait),
    row('merge (→ row visible)', stages.merge),
  ])
  say(
    'Each row is a distribution of its own, so their means add up to the share but not the percentiles.',
  )
  say()
  const firstMeasured = Math.min(...measured.map((write) => write.hapiRespondedAt))
  const reads = await mergeReadTimes(logFile, performance.timeOrigin + firstMeasured)
  printTable(
    ['merge step (from the registry’s log)', 'merges', 'p50', 'p95', 'p99', 'max', 'mean'],
    [row('read of the current version from HAPI', reads)],
  )

  const shareP95 = summarizeLatencies(share).p95Ms
  const differenceP95 = summarizeLatencies(visibility).p95Ms - summarizeLatencies(delivery).p95Ms
  say(
    'Targets: the engine adds at most 50 ms at p95 over HAPI’s own delivery delay, taken two ways:',
  )
  say('the p95 of each write’s own share, and the p95 of visibility minus the p95 of delivery.')
  printTarget(
    'engine share, p95 of t_registry − t_bare per write',
    formatMs(shareP95),
    `≤ ${String(TARGET_SHARE_MS)} ms`,
    shareP95 <= TARGET_SHARE_MS,
  )
  printTarget(
    'engine share, p95(t_registry − t0) − p95(t_bare − t0)',
    formatMs(differenceP95),
    `≤ ${String(TARGET_SHARE_MS)} ms`,
    differenceP95 <= TARGET_SHARE_MS,
  )
}

/** Deletes both sets of Subscriptions, stops both receivers and drops the registry's schemas. */
async function cleanUp(): Promise<void> {
  const steps: [string, () => Promise<void>][] = [
    [
      'delete the bare receiver’s Subscriptions',
      () => deleteSubscriptions(hospital, bareSubscriptionPrefix),
    ],
    [
      'delete the registry’s Subscriptions',
      () => deleteSubscriptions(hospital, config.SUBSCRIPTION_ID_PREFIX),
    ],
    ['stop the registry', async () => registry?.stop()],
    ['stop the bare receiver', async () => bare?.close()],
    ['close the database client', () => database.end()],
    ['drop the schemas', () => dropBenchSchemas(config)],
    ['release HAPI', () => hapi.release()],
  ]
  for (const [name, step] of steps) {
    try {
      await step()
    } catch (error) {
      process.stderr.write(
        `Failed to ${name}: ${error instanceof Error ? error.message : String(error)}\n`,
      )
      failed = true
    }
  }
}
