/**
 * Measures how fast registry rows reach HAPI one PUT at a time against one transaction Bundle
 * per batch, in one run on the same HAPI, and prints both rates and their ratio. Each round uses
 * fresh rows in a schema of its own, which the script drops at the end.
 *
 *   npm run bench:push -- [--rows N] [--batch-size N] [--fhir-base-url URL]
 *
 * Without --fhir-base-url it starts or reuses the benchmark HAPI on BENCH_HAPI_PORT (8090).
 */
import { createRegistry, type Registry } from '../src/app.ts'
import { createLogger } from '../src/platform/logger.ts'
import { parseBenchArgs } from './lib/args.ts'
import {
  acquireBenchHapi,
  benchAuthorization,
  benchConfig,
  cleanUpOnExitOrInterrupt,
  dropBenchSchemas,
} from './lib/environment.ts'
import type { PushJobData } from '../src/platform/queue.ts'

const options = parseBenchArgs(
  'npm run bench:push --',
  'One PUT per row against transaction Bundles, through the push code itself, on one HAPI.',
  {
    rows: { default: 200, description: 'rows pushed each way, created and then updated' },
    'batch-size': { default: 20, description: 'rows per transaction Bundle' },
  },
)
const rowCount = options.rows
const batchSize = options['batch-size']

const hapi = await acquireBenchHapi(options.fhirBaseUrl)
const config = benchConfig('push', hapi.baseUrl, { PROCESS_ROLE: 'api' })

function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

/** Creates `count` patients through the API (not started: requests go straight to the app). */
async function createPatients(
  registry: Registry,
  authorization: string,
  count: number,
): Promise<PushJobData[]> {
  const jobs: PushJobData[] = []
  for (let index = 0; index < count; index++) {
    const response = await registry.app.request('/patients', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: authorization },
      body: JSON.stringify({
        names: [{ use: 'official', family: `Bench${String(index)}`, given: ['Ada'] }],
        birthDate: '1970-01-01',
        gender: 'female',
        telecom: [{ system: 'email', value: `bench${String(index)}@example.org` }],
      }),
    })
    if (response.status !== 201) throw new Error(`POST /patients returned ${response.status}`)
    const { id } = (await response.json()) as { id: string }
    jobs.push({ entityType: 'patient', entityId: id })
  }
  return jobs
}

/** Changes every row's birth date, so the next push of each is an update. */
async function editPatients(
  registry: Registry,
  authorization: string,
  jobs: readonly PushJobData[],
): Promise<void> {
  for (const job of jobs) {
    const response = await registry.app.request(`/patients/${job.entityId}`, {
      method: 'PATCH',
      headers: {
        'Content-Type': 'application/merge-patch+json',
        'If-Match': '"1"',
        Authorization: authorization,
      },
      body: JSON.stringify({ birthDate: '1971-02-03' }),
    })
    if (response.status !== 200) throw new Error(`PATCH /patients returned ${response.status}`)
  }
}

async function timeSingles(registry: Registry, jobs: readonly PushJobData[]): Promise<number> {
  const started = performance.now()
  for (const job of jobs) await registry.push.push(job, `benchsingle`)
  return (performance.now() - started) / 1000
}

async function timeBundles(registry: Registry, jobs: readonly PushJobData[]): Promise<number> {
  const started = performance.now()
  for (let start = 0; start < jobs.length; start += batchSize) {
    const results = await registry.pushBatch.push(
      jobs.slice(start, start + batchSize),
      'benchbundle',
    )
    const failed = results.filter((result) => 'error' in result)
    if (failed.length > 0) throw new Error(`${failed.length} rows of a batch failed`)
  }
  return (performance.now() - started) / 1000
}

function report(label: string, singleSeconds: number, bundleSeconds: number): void {
  const rate = (seconds: number) => (rowCount / seconds).toFixed(1)
  say(
    `${label}: one PUT per row ${singleSeconds.toFixed(2)} s (${rate(singleSeconds)} rows/s), ` +
      `Bundles of ${batchSize} ${bundleSeconds.toFixed(2)} s (${rate(bundleSeconds)} rows/s), ` +
      `ratio ${(singleSeconds / bundleSeconds).toFixed(2)}x`,
  )
}

const registry = await createRegistry(config, { logger: createLogger('warn', { bench: 'push' }) })
const cleanUp = cleanUpOnExitOrInterrupt(async () => {
  await registry.stop()
  await dropBenchSchemas(config)
  await hapi.release()
})
try {
  say(`Pushing ${rowCount} new patients and then an edit of each, against ${config.FHIR_BASE_URL}`)
  const authorization = await benchAuthorization(registry)
  const singleJobs = await createPatients(registry, authorization, rowCount)
  const bundleJobs = await createPatients(registry, authorization, rowCount)
  // Warm HAPI's caches and the connection pools, so neither side pays the first-request cost.
  const warmup = await createPatients(registry, authorization, 5)
  await timeSingles(registry, warmup.slice(0, 2))
  await timeBundles(registry, warmup.slice(2))

  const createSingles = await timeSingles(registry, singleJobs)
  const createBundles = await timeBundles(registry, bundleJobs)
  report('creates', createSingles, createBundles)

  await editPatients(registry, authorization, singleJobs)
  await editPatients(registry, authorization, bundleJobs)
  const updateSingles = await timeSingles(registry, singleJobs)
  const updateBundles = await timeBundles(registry, bundleJobs)
  report('updates', updateSingles, updateBundles)
} finally {
  await cleanUp()
}
