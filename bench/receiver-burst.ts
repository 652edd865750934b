/**
 * Measures the rest-hook receiver under a burst. It sends N deliveries (PUT of a Patient, as HAPI
 * sends them) with C at a time to a registry API that runs no workers. So the figures cover only
 * recording the delivery and queueing its merge. Prints the rate and the latency percentiles.
 * Uses schemas of its own in DATABASE_URL's database and drops them at the end; HAPI is not
 * needed.
 *
 *   npm run bench:receiver -- [--deliveries N] [--concurrency C]
 */
import { createRegistry } from '../src/app.ts'
import { loadConfig } from '../src/platform/config.ts'
import { createLogger } from '../src/platform/logger.ts'
import { RECEIVER_PATH } from '../src/sync/notification-receiver.ts'
import { parseBenchArgs } from './lib/args.ts'
import { cleanUpOnExitOrInterrupt, dropBenchSchemas } from './lib/environment.ts'
import { formatMs, formatRate, summarizeLatencies } from './lib/stats.ts'
import { printTable, say } from './lib/table.ts'

const options = parseBenchArgs(
  'npm run bench:receiver --',
  'Sends rest-hook deliveries to a registry API without workers and times each response.',
  {
    deliveries: { default: 2000, description: 'deliveries to send' },
    concurrency: { default: 20, description: 'deliveries in flight at once' },
  },
)

const suffix = Date.now().toString(36)
const secret = `bench-secret-${suffix}-0123456789`
const config = loadConfig(process.env, {
  DATABASE_SCHEMA: `bench_registry_${suffix}`,
  QUEUE_SCHEMA: `bench_queue_${suffix}`,
  PORT: '0',
  PROCESS_ROLE: 'api',
  REGISTER_SUBSCRIPTIONS: 'false',
  SUBSCRIPTION_SECRET: secret,
  // Set, so that the registry does not warn at start about a key it made up.
  AUTH_TOKEN_SECRET: `bench-token-secret-${suffix}-0123456789abcdef`,
  LOG_LEVEL: 'error',
})

const registry = await createRegistry(config, {
  logger: createLogger('error', { bench: 'receiver' }),
})
const cleanUp = cleanUpOnExitOrInterrupt(async () => {
  await registry.stop()
  await dropBenchSchemas(config)
})
try {
  const { url } = await registry.start()
  const latenciesMs: number[] = []
  let next = 0
  let failures = 0

  const sendOne = async (index: number) => {
    // 500 resources, so a resource gets a new version about every 500 deliveries.
    const id = `bench-${suffix}-${String(index % 500)}`
    const body = JSON.stringify({
      resourceType: 'Patient',
      id,
      meta: {
        versionId: String(Math.floor(index / 500) + 1),
        lastUpdated: new Date().toISOString(),
      },
      name: [{ family: 'Burst' }],
    })
    const started = performance.now()
    const response = await fetch(`${url}${RECEIVER_PATH}/Patient/${id}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/fhir+json', Authorization: `Bearer ${secret}` },
      body,
    })
    await response.arrayBuffer()
    latenciesMs.push(performance.now() - started)
    if (response.status !== 204) failures++
  }

  const started = performance.now()
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < options.deliveries) await sendOne(next++)
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const summary = summarizeLatencies(latenciesMs)
  say(
    `# Rest-hook receiver: ${String(options.deliveries)} deliveries, ${String(options.concurrency)} at a time`,
  )
  say()
  printTable(
    ['deliveries', 'seconds', 'rate', 'p50', 'p95', 'p99', 'max', 'other than 204'],
    [
      [
        String(summary.count),
        seconds.toFixed(2),
        formatRate(options.deliveries, seconds),
        formatMs(summary.p50Ms),
        formatMs(summary.p95Ms),
        formatMs(summary.p99Ms),
        formatMs(summary.maxMs),
        String(failures),
      ],
    ],
  )
  if (failures > 0) process.exitCode = 1
} finally {
  await cleanUp()
}
