/**
 * Measures the HTTP API's reads and writes. It runs the API in a child process (PROCESS_ROLE=api,
 * no workers, so pushes stay queued and HAPI is never called) over a seeded table, drives each
 * endpoint at a fixed rate with an open-loop generator, then runs the same SQL straight through
 * `pg` at the same rate, so the API's own overhead shows, and finally finds each endpoint's
 * maximum rate with autocannon (closed loop, N connections). Uses schemas of its own in
 * DATABASE_URL's database and drops them at the end.
 *
 *   npm run bench:api -- [--rate N] [--write-rate N] [--seconds N] [--patients N] [--profile 1]
 *
 * With --profile 1 the API runs under `node --cpu-prof` and the profile's path is printed.
 */
import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { decodeJwt } from 'jose'
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely'
import type pg from 'pg'
import { createRegistry } from '../src/app.ts'
import { CallerAccessReader } from '../src/auth/caller-access.ts'
import { ConditionRepository } from '../src/conditions/condition.repository.ts'
import { PatientRepository } from '../src/patients/patient.repository.ts'
import { createPool, type Database } from '../src/platform/db.ts'
import { createLogger } from '../src/platform/logger.ts'
import { parseBenchArgs } from './lib/args.ts'
import { cpuSecondsOf, freePort, startApi, stopApi } from './lib/api-process.ts'
import { patientInput, seedPatients } from './lib/api-seed.ts'
import {
  benchAuthorization,
  benchConfig,
  cleanUpOnExitOrInterrupt,
  dropBenchSchemas,
  printEnvironment,
} from './lib/environment.ts'
import { runOpenLoop, type OpenLoopResult } from './lib/open-loop.ts'
import { formatMs, formatRate, sleep } from './lib/stats.ts'
import { printTable, printTarget, say } from './lib/table.ts'

const options = parseBenchArgs(
  'npm run bench:api --',
  'Drives the registry API and the same SQL through pg at a fixed rate, then at saturation.',
  {
    rate: { default: 500, description: 'requests per second of each read endpoint' },
    'write-rate': { default: 100, description: 'requests per second of each write endpoint' },
    seconds: { default: 10, description: 'length of each fixed-rate phase, in seconds' },
    patients: { default: 10_000, description: 'patients seeded before the run' },
    'conditions-per-patient': { default: 2, min: 0, description: 'conditions of each patient' },
    connections: { default: 20, description: 'connections of the saturation runs' },
    'saturation-seconds': { default: 5, description: 'length of each saturation run, in seconds' },
    'warm-up': { default: 300, min: 0, description: 'requests per endpoint before measuring' },
    profile: { default: 0, min: 0, description: '1 runs the API under node --cpu-prof' },
  },
)

/** p99 of every read endpoint must stay under this at the read rate (500/s by default). */
const READ_P99_TARGET_MS = 20
/** Request rate of the read target, per second. */
const READ_TARGET_RATE = 500

/** Pause after each saturation run, in milliseconds. */
const SETTLE_MS = 1000

/** Requests in flight at once during the warm-up. */
const WARM_UP_CONNECTIONS = 8

// No request goes to FHIR_BASE_URL: an API-only process with REGISTER_SUBSCRIPTIONS=false never
// calls HAPI at start or on these routes, and pushes stay queued because no worker runs.
const fhirBaseUrl = options.fhirBaseUrl ?? 'http://127.0.0.1:8080/fhir'

const port = await freePort()
const config = benchConfig('api', fhirBaseUrl, {
  PROCESS_ROLE: 'api',
  REGISTER_SUBSCRIPTIONS: 'false',
  HOST: '127.0.0.1',
  PORT: String(port),
  AUTH_TOKEN_SECRET: crypto.randomUUID() + crypto.randomUUID(),
  // Long enough for the longest run; the default 900 s could expire mid-run.
  AUTH_TOKEN_TTL_SECONDS: '86400',
  SUBSCRIPTION_SECRET: crypto.randomUUID() + crypto.randomUUID(),
})

/** Formats failure reasons as ` (status 500 ×3, socket hang up ×1)`, or nothing for none. */
function reasonsOf(failures: Map<string, number>): string {
  if (failures.size === 0) return ''
  const parts = [...failures].map(([reason, count]) => `${reason} ×${String(count)}`)
  return ` (${parts.join(', ')})`
}

/**
 * Keep-alive connections to the API. Each phase starts with a fresh agent: Node's HTTP server
 * closes a connection after 5 s idle, and a request sent on such a socket just as it closes
 * fails with ECONNRESET, which would count against the API.
 */
let agent = new http.Agent({ keepAlive: true, maxSockets: 256 })

function renewAgent(): void {
  agent.destroy()
  agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
}

interface Reply {
  status: number
  etag: string | undefined
}

/** Sends one request to the API child and reads the whole response. */
function request(method: string, path: string, headers: http.OutgoingHttpHeaders, body?: string) {
  return new Promise<Reply>((resolve, reject) => {
    const outgoing = http.request(
      { agent, host: '127.0.0.1', port, method, path, headers },
      (response) => {
        response.on('data', () => undefined)
        response.on('end', () => {
          const etag = response.headers.etag
          resolve({ status: response.statusCode ?? 0, etag })
        })
        response.on('error', reject)
      },
    )
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}

/** One endpoint under test: how to send its `index`th request and the status it must return. */
interface Endpoint {
  name: string
  kind: 'read' | 'write'
  method: string
  expectedStatus: number
  /** Path, headers and body of the `index`th request. */
  build(index: number): { path: string; headers: http.OutgoingHttpHeaders; body?: string }
  /** Called with every successful reply, so writes can learn the next version. */
  onReply?(index: number, reply: Reply): void
  /** The same SQL as the endpoint's repository call, for the `index`th request; reads only. */
  direct?: (index: number) => Promise<void>
}

interface Measured {
  endpoint: string
  via: string
  rate: number
  result: OpenLoopResult
  /** CPU time of the API process per request, in milliseconds; NaN for the pg rows. */
  cpuMsPerRequest: number
  /** Failed requests by reason: an error message or an unexpected status. */
  failures: Map<string, number>
}

const registry = await createRegistry(config, { logger: createLogger('warn', { bench: 'api' }) })
const pool = createPool(config.DATABASE_URL, config.DATABASE_SCHEMA, config.DATABASE_POOL_SIZE)
let child: ChildProcess | undefined
let failed = false
const cleanUp = cleanUpOnExitOrInterrupt(async () => {
  if (child) await stopApi(child)
  agent.destroy()
  await pool.end()
  await registry.stop().catch(() => undefined)
  await dropBenchSchemas(config)
})
try {
  say('# API benchmark')
  say()
  await printEnvironment(config, { fhirServer: false })

  const authorization = await benchAuthorization(registry)
  const userId = String(decodeJwt(authorization.slice('Bearer '.length)).sub)
  const seedStarted = performance.now()
  const patientIds = await seedPatients(registry.db, {
    patientCount: options.patients,
    conditionsPerPatient: options['conditions-per-patient'],
    registryIdentifierSystem: config.REGISTRY_IDENTIFIER_SYSTEM,
  })
  await sql`analyze`.execute(registry.db)
  say(
    `Seeded ${String(options.patients)} patients with ${String(options['conditions-per-patient'])} conditions each in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s.`,
  )
  say()
  await registry.stop()

  const profileDir =
    options.profile === 1
      ? join(tmpdir(), `bench-api-profile-${Date.now().toString(36)}`)
      : undefined
  child = await startApi(config, profileDir)

  const patientAt = (index: number) => patientIds[index % patientIds.length] ?? ''
  const direct = await directQueries(pool, userId, patientAt)
  const readHeaders = { authorization }
  const writeHeaders = { authorization, 'content-type': 'application/json' }
  const versions = new Map<string, number>()
  let patchNext = 0
  const patchTargets = new Map<number, string>()

  const endpoints: Endpoint[] = [
    {
      name: 'GET /patients/{id}',
      kind: 'read',
      method: 'GET',
      expectedStatus: 200,
      build: (index) => ({ path: `/patients/${patientAt(index * 7919)}`, headers: readHeaders }),
      direct: (index) => direct.patient(index * 7919),
    },
    {
      name: 'GET /patients (first page)',
      kind: 'read',
      method: 'GET',
      expectedStatus: 200,
      build: () => ({ path: '/patients', headers: readHeaders }),
      direct: () => direct.patientPage(),
    },
    {
      name: 'GET /conditions?patientId=',
      kind: 'read',
      method: 'GET',
      expectedStatus: 200,
      build: (index) => ({
        path: `/conditions?patientId=${patientAt(index * 7919)}`,
        headers: readHeaders,
      }),
      direct: (index) => direct.conditionsOfPatient(index * 7919),
    },
    {
      name: 'POST /patients',
      kind: 'write',
      method: 'POST',
      expectedStatus: 201,
      build: (index) => ({
        path: '/patients',
        headers: writeHeaders,
        body: JSON.stringify(patientInput(options.patients + index)),
      }),
    },
    {
      name: 'PATCH /patients/{id}',
      kind: 'write',
      method: 'PATCH',
      expectedStatus: 200,
      // Each request takes the next patient, so no two requests in flight race for one version.
      build: (index) => {
        const id = patientAt(patchNext++)
        patchTargets.set(index, id)
        return {
          path: `/patients/${id}`,
          headers: { ...writeHeaders, 'if-match': `"${String(versions.get(id) ?? 1)}"` },
          body: JSON.stringify({
            telecom: [{ system: 'phone', value: `+41 61 ${String(index).padStart(7, '0')}` }],
          }),
        }
      },
      onReply: (index, reply) => {
        const id = patchTargets.get(index)
        patchTargets.delete(index)
        if (id !== undefined && reply.etag !== undefined)
          versions.set(id, Number(reply.etag.replaceAll('"', '')))
      },
    },
  ]

  // A fresh process runs its code unoptimised for the first few hundred requests. Without a
  // warm-up, the first phase would measure the JIT compiler as well.
  for (const endpoint of endpoints) {
    let next = 0
    await Promise.all(
      Array.from({ length: WARM_UP_CONNECTIONS }, async () => {
        for (let index = next++; index < options['warm-up']; index = next++) {
          const { path, headers, body } = endpoint.build(index)
          const reply = await request(endpoint.method, path, headers, body)
          if (reply.status === endpoint.expectedStatus) endpoint.onReply?.(index, reply)
        }
      }),
    )
  }

  const measured: Measured[] = []
  for (const endpoint of endpoints) {
    const rate = endpoint.kind === 'read' ? options.rate : options['write-rate']
    const failures = new Map<string, number>()
    const fail = (reason: string) => {
      failures.set(reason, (failures.get(reason) ?? 0) + 1)
      return false
    }
    renewAgent()
    const cpuBefore = await cpuSecondsOf(child.pid)
    const result = await runOpenLoop(rate, options.seconds, async (index) => {
      const { path, headers, body } = endpoint.build(index)
      const reply = await request(endpoint.method, path, headers, body).catch((error: unknown) =>
        error instanceof Error ? error.message : String(error),
      )
      if (typeof reply === 'string') return fail(reply)
      if (reply.status !== endpoint.expectedStatus) return fail(`status ${String(reply.status)}`)
      endpoint.onReply?.(index, reply)
      return true
    })
    const cpuMsPerRequest = (((await cpuSecondsOf(child.pid)) - cpuBefore) * 1000) / result.sent
    measured.push({ endpoint: endpoint.name, via: 'API', rate, result, cpuMsPerRequest, failures })
    const { direct: directQuery } = endpoint
    if (directQuery) {
      const directResult = await runOpenLoop(rate, options.seconds, async (index) => {
        await directQuery(index)
        return true
      })
      measured.push({
        endpoint: endpoint.name,
        via: 'pg, same SQL',
        rate,
        result: directResult,
        cpuMsPerRequest: Number.NaN,
        failures: new Map(),
      })
    }
  }

  say(`## Fixed rate, open loop, ${String(options.seconds)} s per row`)
  say()
  say("Latency counts from each request's scheduled start. The pg rows run the SQL of the")
  say('caller lookup and the repository query in sequence, as the API does for one request.')
  say()
  printTable(
    ['endpoint', 'via', 'target', 'achieved', 'p50', 'p95', 'p99', 'max', 'errors', 'API CPU'],
    measured.map(({ endpoint, via, rate, result, cpuMsPerRequest, failures }) => [
      endpoint,
      via,
      `${String(rate)}/s`,
      formatRate(result.achievedRate, 1),
      formatMs(result.latency.p50Ms),
      formatMs(result.latency.p95Ms),
      formatMs(result.latency.p99Ms),
      formatMs(result.latency.maxMs),
      `${String(result.errors)} of ${String(result.sent)}${reasonsOf(failures)}`,
      Number.isNaN(cpuMsPerRequest) ? '' : `${cpuMsPerRequest.toFixed(2)} ms/req`,
    ]),
  )

  const saturation: string[][] = []
  for (const endpoint of endpoints) {
    let index = 0
    const cpuBefore = await cpuSecondsOf(child.pid)
    const result = await autocannon({
      url: `http://127.0.0.1:${String(port)}`,
      connections: options.connections,
      duration: options['saturation-seconds'],
      requests: [
        {
          method: endpoint.method as autocannon.Request['method'],
          // autocannon gives each connection a context object, reset before each of its requests.
          setupRequest: (req, context) => {
            const current = index++
            ;(context as { index?: number }).index = current
            const built = endpoint.build(current)
            return {
              ...req,
              path: built.path,
              headers: built.headers as Record<string, string>,
              body: built.body,
            }
          },
          onResponse: (status, _body, context, headers = {}) => {
            if (status !== endpoint.expectedStatus) return
            const name = Object.keys(headers).find((key) => key.toLowerCase() === 'etag')
            const etag = name === undefined ? undefined : String(headers[name])
            const current = (context as { index?: number }).index ?? -1
            endpoint.onReply?.(current, { status, etag })
          },
        },
      ],
    })
    // autocannon closes its connections at the end with requests still running in the API. They
    // finish within this pause, so their CPU counts here and no request outlives the API's stop.
    await sleep(SETTLE_MS)
    const cpuSeconds = (await cpuSecondsOf(child.pid)) - cpuBefore
    saturation.push([
      endpoint.name,
      String(options.connections),
      formatRate(result.requests.total, result.duration),
      formatMs(result.latency.p50),
      formatMs(result.latency.p99),
      String(result.errors + result.timeouts + result.non2xx),
      `${((cpuSeconds * 1000) / result.requests.total).toFixed(2)} ms/req`,
    ])
  }
  say(`## Saturation, closed loop, ${String(options['saturation-seconds'])} s per row (autocannon)`)
  say()
  printTable(
    ['endpoint', 'connections', 'requests/s', 'p50', 'p99', 'errors', 'API CPU'],
    saturation,
  )

  const reads = measured.filter(
    ({ via, endpoint }) =>
      via === 'API' && endpoints.find((e) => e.name === endpoint)?.kind === 'read',
  )
  const worst = Math.max(...reads.map(({ result }) => result.latency.p99Ms))
  const rateHeld = reads.every(
    ({ result, rate }) => result.errors === 0 && result.achievedRate >= rate * 0.95,
  )
  const atTargetRate = options.rate >= READ_TARGET_RATE
  const byEndpoint = reads
    .map(({ endpoint, result }) => `${endpoint} ${formatMs(result.latency.p99Ms)}`)
    .join(', ')
  printTarget(
    `read p99 at ${String(options.rate)} requests per second`,
    `worst p99 ${formatMs(worst)} (${byEndpoint})${rateHeld ? '' : ', rate not held or errors'}` +
      (atTargetRate ? '' : `, below the target's ${String(READ_TARGET_RATE)} per second`),
    `under ${String(READ_P99_TARGET_MS)} ms at ${String(READ_TARGET_RATE)} requests per second`,
    atTargetRate && rateHeld && worst < READ_P99_TARGET_MS,
  )
  if (profileDir !== undefined) say(`CPU profile of the API: ${profileDir}`)
} catch (error) {
  failed = true
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
} finally {
  await cleanUp()
}
process.exit(failed ? 1 : 0)

/**
 * Builds the direct `pg` version of each read: the caller lookup the API runs (its prepared
 * statement), then the SQL of the repository read, recorded once through a logging Kysely and
 * replayed with each request's ids.
 */
async function directQueries(pool: pg.Pool, userId: string, patientAt: (index: number) => string) {
  const recorded: CompiledQuery[] = []
  const recorder = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') recorded.push(event.query)
    },
  })
  const callers = new CallerAccessReader(pool)
  const patients = new PatientRepository()
  const conditions = new ConditionRepository()
  const sample = patientAt(0)
  const record = async (read: () => Promise<unknown>) => {
    recorded.length = 0
    await read()
    return [...recorded]
  }
  const patientQueries = await record(() => patients.findViewById(recorder, sample))
  const pageQueries = await record(() => patients.list(recorder, {}, 51))
  const conditionQueries = await record(() => conditions.list(recorder, { patientId: sample }, 51))

  const replay = async (queries: CompiledQuery[], id: string) => {
    await callers.find(userId)
    for (const query of queries) {
      await pool.query(
        query.sql,
        query.parameters.map((value) => (value === sample ? id : value)),
      )
    }
  }
  return {
    patient: (index: number) => replay(patientQueries, patientAt(index)),
    patientPage: () => replay(pageQueries, sample),
    conditionsOfPatient: (index: number) => replay(conditionQueries, patientAt(index)),
  }
}
