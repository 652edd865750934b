/**
 * Shared setup of the benchmarks: a HAPI server, registry schemas of each run's own, and a record
 * of the machine and versions the figures come from.
 */
import os from 'node:os'
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { startHapi, type HapiHandle } from '../../scripts/hapi.ts'
import type { Registry } from '../../src/app.ts'
import { ROLES } from '../../src/auth/access.ts'
import { loadConfig, type Config } from '../../src/platform/config.ts'
import { say } from './table.ts'

/** Port and database of the HAPI server the benchmarks start when no --fhir-base-url is given. */
export const BENCH_HAPI_PORT = Number(process.env.BENCH_HAPI_PORT ?? '8090')
export const BENCH_HAPI_DB_NAME = process.env.BENCH_HAPI_DB_NAME ?? 'brain_registry_hapi_bench'

/**
 * JVM options of the benchmark HAPI. The development default stops the JIT at C1 to start faster,
 * which slows HAPI at peak; a benchmark measures against HAPI at full speed.
 */
export const BENCH_HAPI_JVM_OPTIONS = ['-XX:TieredStopAtLevel=4', '-Xms1g', '-Xmx2g']

export interface BenchHapi {
  baseUrl: string
  /** Stops HAPI when this run started it, unless BENCH_KEEP_HAPI=1; otherwise does nothing. */
  release(): Promise<void>
}

/**
 * Returns the FHIR server to measure against: `fhirBaseUrl` when given, else the project's HAPI
 * on BENCH_HAPI_PORT (8090), started with full JIT when nothing responds there.
 */
export async function acquireBenchHapi(fhirBaseUrl: string | undefined): Promise<BenchHapi> {
  if (fhirBaseUrl !== undefined) return { baseUrl: fhirBaseUrl, release: () => Promise.resolve() }

  const handle: HapiHandle = await startHapi({
    port: BENCH_HAPI_PORT,
    dbName: BENCH_HAPI_DB_NAME,
    jvmOptions: BENCH_HAPI_JVM_OPTIONS,
  })
  return {
    baseUrl: handle.baseUrl,
    async release() {
      if (!handle.startedByUs) return
      if (process.env.BENCH_KEEP_HAPI === '1') {
        say(
          `HAPI keeps running at ${handle.baseUrl}; stop it with: HAPI_PORT=${BENCH_HAPI_PORT} npm run hapi -- stop`,
        )
        return
      }
      await handle.stop()
    },
  }
}

/**
 * Loads the registry's configuration for a benchmark, with schemas, identifier system and
 * `meta.source` of its own so that runs never meet each other's rows or resources. It registers
 * no Subscription unless `overrides` sets REGISTER_SUBSCRIPTIONS, and logs warnings only.
 */
export function benchConfig(
  name: string,
  fhirBaseUrl: string,
  overrides: Record<string, string> = {},
): Config {
  const suffix = `${name}_${Date.now().toString(36)}`
  return loadConfig(process.env, {
    DATABASE_SCHEMA: `bench_registry_${suffix}`,
    QUEUE_SCHEMA: `bench_queue_${suffix}`,
    FHIR_BASE_URL: fhirBaseUrl,
    REGISTRY_IDENTIFIER_SYSTEM: `https://brain-registry.example.org/bench/${suffix}`,
    FHIR_SOURCE_URI: `https://brain-registry.example.org/bench/${suffix}/source`,
    REGISTER_SUBSCRIPTIONS: 'false',
    LOG_LEVEL: 'warn',
    ...overrides,
  })
}

/** Drops the registry and queue schemas a benchmark created for its own rows and jobs. */
export async function dropBenchSchemas(config: Config): Promise<void> {
  const client = new pg.Client({ connectionString: config.DATABASE_URL })
  await client.connect()
  try {
    await client.query(`drop schema if exists ${config.DATABASE_SCHEMA} cascade`)
    await client.query(`drop schema if exists ${config.QUEUE_SCHEMA} cascade`)
  } finally {
    await client.end()
  }
}

async function postgresVersion(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const result = await client.query<{ server_version: string }>('show server_version')
    return result.rows[0]?.server_version ?? 'unknown'
  } finally {
    await client.end()
  }
}

async function hapiVersion(fhirBaseUrl: string): Promise<string> {
  try {
    const response = await fetch(`${fhirBaseUrl}/metadata`, {
      headers: { Accept: 'application/fhir+json' },
    })
    const statement = (await response.json()) as { software?: { name?: string; version?: string } }
    return `${statement.software?.name ?? 'FHIR server'} ${statement.software?.version ?? 'unknown'}`
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message : String(error)})`
  }
}

async function packageVersion(name: string): Promise<string> {
  const file = new URL(`../../node_modules/${name}/package.json`, import.meta.url)
  const { version } = JSON.parse(await readFile(file, 'utf8')) as { version: string }
  return version
}

/**
 * Prints the machine, the versions and the HAPI server the figures of this run come from. Pass
 * `fhirServer: false` for a run that never calls FHIR_BASE_URL, so nothing is sent there.
 */
export async function printEnvironment(
  config: Config,
  options: { fhirServer?: boolean } = {},
): Promise<void> {
  const cpus = os.cpus()
  say(
    `- machine: ${String(cpus.length)} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`,
  )
  say(
    `- load average at start: ${os
      .loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}`,
  )
  say(
    `- Node.js ${process.versions.node}, PostgreSQL ${await postgresVersion(config.DATABASE_URL)}, pg-boss ${await packageVersion('pg-boss')}`,
  )
  if (options.fhirServer ?? true) {
    say(`- FHIR server: ${await hapiVersion(config.FHIR_BASE_URL)} at ${config.FHIR_BASE_URL}`)
  }
  say()
}

/**
 * Creates a user with every role in the registry's own schema and returns the `Authorization`
 * header of a fresh token for it, valid for AUTH_TOKEN_TTL_SECONDS (900 s by default).
 */
export async function benchAuthorization(registry: Registry): Promise<string> {
  const user = await registry.users.create(
    {
      username: `bench-${crypto.randomUUID().slice(0, 8)}`,
      password: crypto.randomUUID(),
      roles: ROLES,
    },
    { actor: 'benchmark', requestId: null },
  )
  const { token } = await registry.tokens.issue(user.id, user.roles)
  return `Bearer ${token}`
}

/**
 * Makes `cleanUp` run once: when the run calls the returned function (in its `finally`), or on
 * the first Ctrl-C (SIGINT), after which the process exits with 130. Without it an interrupted
 * benchmark would leave its schemas behind, because SIGINT ends Node before `finally` runs.
 */
export function cleanUpOnExitOrInterrupt(cleanUp: () => Promise<void>): () => Promise<void> {
  let cleaning: Promise<void> | undefined
  const cleanUpOnce = () => (cleaning ??= cleanUp())
  process.once('SIGINT', () => {
    say('Interrupted; cleaning up')
    cleanUpOnce().then(
      () => process.exit(130),
      (error: unknown) => {
        process.stderr.write(
          `Clean-up after the interrupt failed: ${error instanceof Error ? error.message : String(error)}\n`,
        )
        process.exit(130)
      },
    )
  })
  return cleanUpOnce
}
