/**
 * Measures the rest-hook receiver under a burst. It sends N deliveries (PUT of a Patient, as HAPI
 * sends them) with C at a time to a registry API that runs no workers. So the figures cover only
 * recording the delivery and queueing its merge. Prints the rate and the latency percentiles.
 * Uses schemas of its own in DATABASE_URL's database and drops them at the end; HAPI is not
 * needed.
 *
 *   npm run bench:receiver -- [--deliveries N] [--concurrency C]
 */
import { parseArgs } from 'node:util'
import { createRegistry } from '../src/app.ts'
import { loadConfig } from '../src/platform/config.ts'
import { createLogger } from '../src/platform/logger.ts'
import { dropBenchSchemas } from './lib/environment.ts'
import { RECEIVER_PATH } from '../src/sync/notification-receiver.ts'

const { values } = parseArgs({
  options: {
    deliveries: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '20' },
    help: { type: 'boolean', default: false },
  },
})
if (values.help) {
  process.stdout.write(
    'Usage: npm run bench:receiver -- [--deliveries N] [--concurrency C]\n' +
      'Defaults: 2000 deliveries, 20 at a time.\n',
  )
  process.exit(0)
}
const deliveries = Number(values.deliveries)
const concurrency = Number(values.concurrency)
if (
  !Number.isInteger(deliveries) ||
  deliveries < 1 ||
  !Number.isInteger(concurrency) ||
  concurrency < 1
) {
  process.stderr.write('--deliveries and --concurrency must be positive integers\n')
  process.exit(2)
}

const suffix = Date.now().toString(36)
const secret = `bench-secret-${suffix}-0123456789`
const config = loadConfig(process.env, {
  DATABASE_SCHEMA: `bench_registry_${suffix}`,
  QUEUE_SCHEMA: `bench_queue_${suffix}`,
  PORT: '0',
  PROCESS_ROLE: 'api',
  REGISTER_SUBSCRIPTIONS: 'false',
  SUBSCRIPTION_SECRET: secret,
  LOG_LEVEL: 'warn',
})

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0
}

const registry = await createRegistry(config, {
  logger: createLogger('warn', { bench: 'receiver' }),
})
try {
  const { url } = await registry.start()
  const latenciesMs: number[] = []
  let next = 0
  let failures = 0

  const sendOne = async (index: number) => {
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
    Array.from({ length: concurrency }, async () => {
      while (next < deliveries) await sendOne(next++)
    }),
  )
  const seconds = (performance.now() - started) / 1000
  latenciesMs.sort((a, b) => a - b)
  process.stdout.write(
    `${deliveries} deliveries, ${concurrency} at a time, in ${seconds.toFixed(2)} s: ` +
      `${(deliveries / seconds).toFixed(0)} per second; latency p50 ` +
      `${percentile(latenciesMs, 0.5).toFixed(1)} ms, p95 ${percentile(latenciesMs, 0.95).toFixed(1)} ms, ` +
      `p99 ${percentile(latenciesMs, 0.99).toFixed(1)} ms; ${failures} responses other than 204\n`,
  )
} finally {
  await registry.stop()
  await dropBenchSchemas(config)
}
