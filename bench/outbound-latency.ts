/**
 * Measures how long a registry write takes to become readable in HAPI. A registry process with
 * its API and workers (`node src/main.ts`, PROCESS_ROLE all, as in production) takes a steady
 * stream of writes through its HTTP API: PATCH of a patient's birth date and POST of a condition,
 * in turn. For each write the clock runs from the API's 2xx response until `GET {Type}/{id}` on
 * HAPI returns the new content, polled with `Cache-Control: no-cache` while the write is
 * outstanding. The run registers no Subscription, so unlike production HAPI sends no echo of
 * each push back and the registry merges none.
 *
 *   npm run bench:outbound-latency -- [--rate N] [--duration-seconds N] [--fhir-base-url URL]
 */
import { createRegistry } from '../src/app.ts'
import { createLogger } from '../src/platform/logger.ts'
import { parseBenchArgs } from './lib/args.ts'
import { startEngineProcess, stopEngineProcesses } from './lib/engine-process.ts'
import {
  acquireBenchHapi,
  benchAuthorization,
  benchConfig,
  cleanUpOnExitOrInterrupt,
  dropBenchSchemas,
  printEnvironment,
} from './lib/environment.ts'
import { apiRequest, conditionBody, createPatients, syncCounts } from './lib/registry-rows.ts'
import { formatMs, sleep, summarizeLatencies } from './lib/stats.ts'
import { printTable, say } from './lib/table.ts'

const options = parseBenchArgs(
  'npm run bench:outbound-latency --',
  'Time from a registry write (HTTP 2xx) until HAPI returns the new content.',
  {
    rate: { default: 10, integer: false, description: 'writes per second' },
    'duration-seconds': { default: 60, description: 'length of the steady phase' },
    patients: { default: 200, description: 'patients the PATCHes and new conditions spread over' },
    'poll-ms': { default: 10, description: 'pause between two reads of one outstanding write' },
    'timeout-seconds': { default: 30, description: 'time a write may take to reach HAPI' },
  },
)

/** Time allowed for the registry to push the patients created before the steady phase. */
const SEED_TIMEOUT_MS = 300_000

interface Outcome {
  kind: 'PATCH patient' | 'POST condition'
  /** From sending the request to its 2xx response, in ms. */
  apiMs: number
  /** From the 2xx response until HAPI returned the new content, in ms; NaN when it timed out. */
  visibleMs: number
}

const hapi = await acquireBenchHapi(options.fhirBaseUrl)
const config = benchConfig('outbound_latency', hapi.baseUrl, { PROCESS_ROLE: 'api' })
const registry = await createRegistry(config, {
  logger: createLogger('warn', { bench: 'outbound-latency' }),
})
const cleanUp = cleanUpOnExitOrInterrupt(async () => {
  await stopEngineProcesses()
  await registry.stop()
  await dropBenchSchemas(config)
  await hapi.release()
})
const outcomes: Outcome[] = []
const pollRoundTripsMs: number[] = []
let failures = 0

/**
 * Reads `Type/id` from HAPI until `matches` accepts it, pausing `poll-ms` between reads.
 * Returns the time since `since`, or NaN after `timeout-seconds`.
 */
async function untilVisible(
  path: string,
  matches: (resource: Record<string, unknown>) => boolean,
  since: number,
): Promise<number> {
  const deadline = since + options['timeout-seconds'] * 1000
  while (performance.now() < deadline) {
    const started = performance.now()
    const response = await fetch(`${hapi.baseUrl}/${path}`, {
      headers: { Accept: 'application/fhir+json', 'Cache-Control': 'no-cache' },
    })
    const body = response.ok ? ((await response.json()) as Record<string, unknown>) : null
    if (!response.ok) await response.arrayBuffer()
    const now = performance.now()
    pollRoundTripsMs.push(now - started)
    if (body && matches(body)) return now - since
    await sleep(options['poll-ms'])
  }
  return Number.NaN
}

/** Birth dates that no earlier write used, one per write number. */
function birthDateOf(writeNumber: number): string {
  return new Date(Date.UTC(1940, 0, 1) + writeNumber * 86_400_000).toISOString().slice(0, 10)
}

try {
  say('## Outbound latency: registry write to readable in HAPI')
  say()
  await printEnvironment(config)
  const authorization = await benchAuthorization(registry)
  const seeded = await createPatients(registry, authorization, options.patients, 0)
  const versions = new Map(seeded.map((patient) => [patient.id, 1]))
  const idle = seeded.map((patient) => patient.id)

  const engine = await startEngineProcess(config, 'all')
  try {
    const seedDeadline = Date.now() + SEED_TIMEOUT_MS
    while ((await syncCounts(registry)).synced < seeded.length) {
      if (Date.now() > seedDeadline) throw new Error('The seeded patients did not reach HAPI')
      await sleep(100)
    }

    const patchPatient = async (writeNumber: number) => {
      // A patient with a write still outstanding is left out, so no write replaces another
      // before HAPI shows it.
      const id = idle.shift()
      if (id === undefined) {
        failures++
        return
      }
      const birthDate = birthDateOf(writeNumber)

      const started = performance.now()
      const response = await apiRequest(
        engine.url,
        authorization,
        'PATCH',
        `/patients/${id}`,
        { birthDate },
        {
          'Content-Type': 'application/merge-patch+json',
          'If-Match': `"${String(versions.get(id) ?? 1)}"`,
        },
      )
      const acknowledged = performance.now()
      if (response.status !== 200) {
        failures++
        say(`PATCH /patients/${id} returned ${String(response.status)}: ${await response.text()}`)
        idle.push(id)
        return
      }
      versions.set(id, ((await response.json()) as { version: number }).version)

      const visibleMs = await untilVisible(
        `Patient/${id}`,
        (resource) => resource.birthDate === birthDate,
        acknowledged,
      )
      outcomes.push({ kind: 'PATCH patient', apiMs: acknowledged - started, visibleMs })
      idle.push(id)
    }

    const postCondition = async (writeNumber: number) => {
      const patientId = seeded[writeNumber % seeded.length]?.id ?? ''
      const started = performance.now()
      const response = await apiRequest(
        engine.url,
        authorization,
        'POST',
        '/conditions',
        conditionBody(patientId, writeNumber),
      )
      const acknowledged = performance.now()
      if (response.status !== 201) {
        failures++
        say(`POST /conditions returned ${String(response.status)}: ${await response.text()}`)
        return
      }
      const { id } = (await response.json()) as { id: string }
      const visibleMs = await untilVisible(`Condition/${id}`, () => true, acknowledged)
      outcomes.push({ kind: 'POST condition', apiMs: acknowledged - started, visibleMs })
    }

    const writes = Math.round(options.rate * options['duration-seconds'])
    say(
      `Sending ${String(writes)} writes, ${String(options.rate)} per second for ` +
        `${String(options['duration-seconds'])} s, to a registry with API and workers in one process`,
    )
    say()
    const started = performance.now()
    const running: Promise<void>[] = []
    for (let writeNumber = 0; writeNumber < writes; writeNumber++) {
      // A fixed schedule: a slow write never delays the next one.
      const due = started + (writeNumber * 1000) / options.rate
      await sleep(Math.max(0, due - performance.now()))
      running.push(writeNumber % 2 === 0 ? patchPatient(writeNumber) : postCondition(writeNumber))
    }
    await Promise.all(running)
  } finally {
    await engine.stop()
  }

  const rows = (['PATCH patient', 'POST condition', 'all'] as const).map((kind) => {
    const chosen = outcomes.filter((outcome) => kind === 'all' || outcome.kind === kind)
    const visible = summarizeLatencies(
      chosen.map((outcome) => outcome.visibleMs).filter(Number.isFinite),
    )
    const api = summarizeLatencies(chosen.map((outcome) => outcome.apiMs))
    return [
      kind,
      String(chosen.length),
      formatMs(visible.p50Ms),
      formatMs(visible.p95Ms),
      formatMs(visible.p99Ms),
      formatMs(visible.maxMs),
      String(chosen.filter((outcome) => Number.isNaN(outcome.visibleMs)).length),
      formatMs(api.p50Ms),
    ]
  })
  printTable(['write', 'count', 'p50', 'p95', 'p99', 'max', 'timed out', 'API p50'], rows)
  const polls = summarizeLatencies(pollRoundTripsMs)
  say(
    `- polling resolution: a pause of ${String(options['poll-ms'])} ms between reads, plus a ` +
      `read's round trip (p50 ${formatMs(polls.p50Ms)}, p95 ${formatMs(polls.p95Ms)}), ` +
      `${String(polls.count)} reads`,
  )
  say(`- writes the API rejected or that found no idle patient: ${String(failures)}`)
  if (outcomes.length === 0) process.exitCode = 1
} finally {
  await cleanUp()
}
