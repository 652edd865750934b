/**
 * Measures how fast the push engine writes a backlog of registry changes to HAPI, against plain
 * FHIR clients that write the same resources to the same HAPI in the same run.
 *
 * The rows are created through the registry's API with no worker running, so each queues its
 * push job as a user's write does. Then a worker process (`node src/main.ts`, PROCESS_ROLE
 * worker) starts, and the clock runs from its start until every row is `synced`. The plain
 * clients write copies of the same resources under fresh ids: one PUT at a time, PUTs with as
 * many requests in flight as the engine has push workers, and transaction Bundles of
 * PUSH_BATCH_SIZE entries with the same concurrency. An optional update round edits every row
 * and compares again.
 *
 *   npm run bench:outbound -- [--patients N] [--conditions-per-patient N] [--fhir-base-url URL]
 */
import { createRegistry } from '../src/app.ts'
import { createLogger } from '../src/platform/logger.ts'
import { parseBenchArgs } from './lib/args.ts'
import {
  acquireBenchHapi,
  benchAuthorization,
  benchConfig,
  cleanUpOnExitOrInterrupt,
  dropBenchSchemas,
  printEnvironment,
} from './lib/environment.ts'
import {
  bundleClient,
  bundlesOf,
  changesOf,
  concurrentClient,
  naiveClient,
  resourceGroups,
  type ResourceGroup,
} from './lib/plain-clients.ts'
import { startEngineProcess, stopEngineProcesses } from './lib/engine-process.ts'
import {
  apiRequest,
  createPatients,
  inParallel,
  fetchedPushJobs,
  forgetDriftCursors,
  syncCounts,
  type BenchPatient,
} from './lib/registry-rows.ts'
import { formatRate, formatRatio, sleep } from './lib/stats.ts'
import { printTable, printTarget, say } from './lib/table.ts'

const options = parseBenchArgs(
  'npm run bench:outbound --',
  'Push engine against plain FHIR clients, writing the same registry changes to one HAPI.',
  {
    patients: { default: 5000, description: 'patients created' },
    'conditions-per-patient': { default: 2, min: 0, description: 'conditions of each patient' },
    'naive-patients': {
      default: 5000,
      description: 'patients (with their conditions) the one-at-a-time client writes, at most all',
    },
    updates: { default: 1, min: 0, description: 'also measure an update round (1) or not (0)' },
    'timeout-seconds': { default: 1800, description: 'time allowed for the engine to sync all' },
  },
)

/** How often the run counts synced rows while the engine works. */
const POLL_INTERVAL_MS = 100

const hapi = await acquireBenchHapi(options.fhirBaseUrl)
const config = benchConfig('outbound', hapi.baseUrl, { PROCESS_ROLE: 'api' })
const registry = await createRegistry(config, {
  logger: createLogger('warn', { bench: 'outbound' }),
})
const cleanUp = cleanUpOnExitOrInterrupt(async () => {
  await stopEngineProcesses()
  await registry.stop()
  await dropBenchSchemas(config)
  await hapi.release()
})

interface Round {
  label: string
  rows: (readonly string[])[]
}

/** Seconds from a worker process's start, and from its first fetched job, until all synced. */
interface EngineTiming {
  fromProcessStart: number
  fromFirstJob: number
}

/**
 * Starts a worker process and times it until `expected` rows are synced. The rate counts from the
 * first push job the worker fetched, so the start of Node.js and of pg-boss are left out.
 */
async function timeEngine(expected: number): Promise<EngineTiming> {
  await forgetDriftCursors(registry)
  const fetchedBefore = await fetchedPushJobs(registry)
  const started = performance.now()
  const worker = await startEngineProcess(config, 'worker')
  let firstJob = Number.NaN
  try {
    const deadline = started + options['timeout-seconds'] * 1000
    for (;;) {
      const counts = await syncCounts(registry)
      // Counting the jobs gets slow on a queue of thousands, so it stops once one was fetched.
      if (Number.isNaN(firstJob) && (await fetchedPushJobs(registry)) > fetchedBefore) {
        firstJob = performance.now()
      }
      const now = performance.now()
      if (counts.synced >= expected) {
        return {
          fromProcessStart: (now - started) / 1000,
          fromFirstJob: (now - (Number.isNaN(firstJob) ? started : firstJob)) / 1000,
        }
      }
      if (counts.failed > 0) throw new Error(`${String(counts.failed)} rows failed to push`)
      if (counts.total > expected) {
        throw new Error(
          `${String(counts.total - expected)} rows appeared that the run did not create; ` +
            'a merge of FHIR changes would distort the timing',
        )
      }
      if (now > deadline) {
        throw new Error(`Only ${String(counts.synced)} of ${String(expected)} rows synced in time`)
      }
      await sleep(POLL_INTERVAL_MS)
    }
  } finally {
    await worker.stop()
  }
}

function engineRow(changes: number, timing: EngineTiming): string[] {
  return row('engine (worker process, from its first job)', changes, timing.fromFirstJob)
}

function sayStartUp(timing: EngineTiming): void {
  say(
    `- engine: ${timing.fromProcessStart.toFixed(2)} s from the worker process's start, of which ` +
      `${(timing.fromProcessStart - timing.fromFirstJob).toFixed(2)} s before its first job`,
  )
}

/** Copies of the benchmark's rows for each plain client, so every client writes its own ids. */
interface ClientGroups {
  naive: readonly ResourceGroup[]
  concurrent: readonly ResourceGroup[]
  bundled: readonly ResourceGroup[]
}

/** Times the plain clients and adds their rows to `round`; returns the best and naive rates. */
async function timePlainClients(
  round: Round,
  groups: ClientGroups,
): Promise<{ best: number; naive: number }> {
  const { baseUrl } = hapi
  const parallel = config.PUSH_CONCURRENCY
  const naiveChanges = changesOf(groups.naive)
  const naive = await naiveClient(baseUrl, groups.naive)
  round.rows.push(row('plain: one PUT at a time', naiveChanges, naive))
  const changes = changesOf(groups.concurrent)
  const concurrent = await concurrentClient(baseUrl, groups.concurrent, parallel)
  round.rows.push(row(`plain: PUTs, ${String(parallel)} in flight`, changes, concurrent))
  const bundled = await bundleClient(
    baseUrl,
    bundlesOf(groups.bundled, config.PUSH_BATCH_SIZE),
    parallel,
  )
  const bundledChanges = changesOf(groups.bundled)
  round.rows.push(
    row(
      `plain: Bundles of ≤ ${String(config.PUSH_BATCH_SIZE)}, ${String(parallel)} in flight`,
      bundledChanges,
      bundled,
    ),
  )
  return {
    best: Math.max(changes / concurrent, bundledChanges / bundled),
    naive: naiveChanges / naive,
  }
}

function row(client: string, changes: number, seconds: number): string[] {
  return [client, String(changes), seconds.toFixed(2), formatRate(changes, seconds)]
}

function printRound(round: Round, engineRate: number, best: number, naive: number): void {
  say(`### ${round.label}`)
  say()
  printTable(['client', 'changes', 'seconds', 'changes/s'], round.rows)
  printTarget(
    `${round.label}: engine / best plain client`,
    formatRatio(engineRate / best),
    'at least 0.90x',
    engineRate / best >= 0.9,
  )
  printTarget(
    `${round.label}: engine / one PUT at a time`,
    formatRatio(engineRate / naive),
    'at least 3.00x',
    engineRate / naive >= 3,
  )
  say()
}

/** Warms HAPI's caches and JIT for every kind of write, so no client pays the first requests. */
async function warmUp(authorization: string): Promise<void> {
  const patients = await createPatients(registry, authorization, 30, 2)
  await timeEngine(changesOfPatients(patients))
  const groups = await resourceGroups(registry)
  await naiveClient(hapi.baseUrl, groups.slice(0, 10))
  await concurrentClient(hapi.baseUrl, groups.slice(10, 20), config.PUSH_CONCURRENCY)
  await bundleClient(hapi.baseUrl, bundlesOf(groups.slice(20), config.PUSH_BATCH_SIZE), 2)
}

function changesOfPatients(patients: readonly BenchPatient[]): number {
  return patients.reduce((sum, patient) => sum + 1 + patient.conditionIds.length, 0)
}

/** Edits every row through the API: a new birth date for patients, a new onset for conditions. */
async function editAll(authorization: string, patients: readonly BenchPatient[]): Promise<void> {
  const patch = async (path: string, body: unknown) => {
    const response = await apiRequest(registry, authorization, 'PATCH', path, body, {
      'Content-Type': 'application/merge-patch+json',
      'If-Match': '"1"',
    })
    if (response.status !== 200) {
      throw new Error(`PATCH ${path} returned ${String(response.status)}`)
    }
  }
  await inParallel(patients.length, 8, async (index) => {
    const patient = patients[index]
    if (!patient) return
    await patch(`/patients/${patient.id}`, { birthDate: '1971-02-03' })
    for (const id of patient.conditionIds) {
      await patch(`/conditions/${id}`, { onset: { dateTime: '2012-06' } })
    }
  })
}

try {
  say('## Outbound throughput: push engine against plain FHIR clients')
  say()
  await printEnvironment(config)
  const authorization = await benchAuthorization(registry)
  await warmUp(authorization)
  const warmRows = (await syncCounts(registry)).total

  const perPatient = options['conditions-per-patient']
  say(`Creating ${String(options.patients)} patients with ${String(perPatient)} conditions each`)
  const patients = await createPatients(registry, authorization, options.patients, perPatient)
  const changes = changesOfPatients(patients)
  say(
    `- ${String(changes)} changes; push batch ${String(config.PUSH_BATCH_SIZE)} rows, ` +
      `${String(config.PUSH_CONCURRENCY)} batches in flight`,
  )
  say()

  const creates: Round = { label: 'Creates', rows: [] }
  const engine = await timeEngine(warmRows + changes)
  creates.rows.push(engineRow(changes, engine))
  const naivePatients = Math.min(options['naive-patients'], patients.length)
  const copies = async () => (await resourceGroups(registry)).slice(-patients.length)
  const groups: ClientGroups = {
    naive: (await copies()).slice(0, naivePatients),
    concurrent: await copies(),
    bundled: await copies(),
  }
  const created = await timePlainClients(creates, groups)
  sayStartUp(engine)
  printRound(creates, changes / engine.fromFirstJob, created.best, created.naive)

  if (options.updates === 1) {
    say(`Editing all ${String(changes)} rows`)
    await editAll(authorization, patients)
    const updates: Round = { label: 'Updates', rows: [] }
    const updated = await timeEngine(warmRows + changes)
    updates.rows.push(engineRow(changes, updated))
    // The plain clients update the copies they created, with the same edit.
    const edit = (copies: readonly ResourceGroup[]) =>
      copies.map((group) => ({
        patient: { ...group.patient, birthDate: '1971-02-03' },
        conditions: group.conditions.map((condition) => ({
          ...condition,
          onsetDateTime: '2012-06',
        })),
      }))
    const plain = await timePlainClients(updates, {
      naive: edit(groups.naive),
      concurrent: edit(groups.concurrent),
      bundled: edit(groups.bundled),
    })
    sayStartUp(updated)
    printRound(updates, changes / updated.fromFirstJob, plain.best, plain.naive)
  }
} finally {
  await cleanUp()
}
