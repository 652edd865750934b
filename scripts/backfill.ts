/**
 * The one-off backfill for data that one side held before sync started: a HAPI full of a
 * hospital's patients (from-fhir), or a registry loaded straight into Postgres (to-fhir).
 *
 *   npm run backfill -- --direction from-fhir|to-fhir|both [--restart] [--page-size N]
 *                       [--concurrency N] [--search NAME=VALUE]...
 *
 * It reads the same environment as `npm run serve` and builds the registry without its HTTP
 * server, workers or Subscriptions.
 *
 * `npm run backfill` starts Node with MEMORY_FLAGS. With its defaults, Node 24 on a machine with
 * several GiB of memory let V8 grow the young generation to 128 MiB and the old generation to
 * several times its live size before a full collection. A from-fhir run of 5,000 Patients, whose
 * live heap is about 35 MB, then peaked at 330 MB RSS, and at 157 MB with the flags (Node 24.21,
 * 2-core VM with 24 GiB). Exit codes: 0 done, 1 failed, 2 invalid arguments or
 * configuration, 130 interrupted (the run continues at the next invocation).
 */
import { parseArgs } from 'node:util'
import { createRegistry, type Registry } from '../src/app.ts'
import type { FetchFunction } from '../src/fhir/fhir-client.ts'
import { systemClock } from '../src/platform/clock.ts'
import { ConfigError, loadConfig } from '../src/platform/config.ts'
import { AppError } from '../src/platform/errors.ts'
import { createLogger, errorFields, type Logger } from '../src/platform/logger.ts'
import { BarProgress, formatDuration } from '../src/sync/backfill-progress.ts'
import type { BackfillResult } from '../src/sync/backfill.ts'
import type { BackfillDirection } from '../src/sync/backfill.repository.ts'

/**
 * V8 flags of `npm run backfill` (package.json): semi-spaces of 4 MiB, and a full collection once
 * the old generation reaches 1.5 times what the last one left live.
 */
export const MEMORY_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=50']

const MAX_PAGE_SIZE = 1000
const MAX_CONCURRENCY = 32
/**
 * Merges or Bundles at once when --concurrency is not given. The command waits on HAPI and
 * Postgres most of the time (64 % idle in a CPU profile of from-fhir), and 8 at once took a
 * from-fhir run of 1,500 Patients 20 s against 26 to 29 s with 4, at the same peak RSS (2-core VM).
 */
const DEFAULT_CONCURRENCY = 8

export const USAGE = `Usage: npm run backfill -- --direction from-fhir|to-fhir|both [--restart] [--page-size N]
                        [--concurrency N] [--search NAME=VALUE]...

  --direction   from-fhir: apply every Patient in HAPI to the registry, enrolling the
                neurological ones with their Conditions.
                to-fhir: write every registry row that never reached FHIR, or whose push is
                pending or failed, to HAPI, in transaction Bundles of PUSH_BATCH_SIZE rows.
                both: from-fhir, then to-fhir.
  --restart     abandon the unfinished run of each direction and start over; without it an
                unfinished run continues from its last saved page.
  --page-size   Patients or rows per page, 1 to 1000 (default: DRIFT_PAGE_SIZE, 100).
  --concurrency merges or Bundles of one page that run at once, 1 to ${MAX_CONCURRENCY}
                (default ${DEFAULT_CONCURRENCY}).
  --search      a FHIR search parameter that narrows the Patients from-fhir reads, such as
                identifier=urn:oid:1.2.3|; repeat it for more. An unfinished run continues only
                with the parameters it started with.
  --help        print this text.

On a terminal a progress bar shows on stderr, and info log lines are left out unless stdout is
redirected. Otherwise one JSON log line per page reports the progress.

Configuration comes from the environment, as for the registry (DATABASE_URL, DATABASE_SCHEMA,
FHIR_BASE_URL...). Exit codes: 0 done, 1 failed, 2 invalid arguments or configuration,
130 interrupted; run the same command again to continue.
`

export interface BackfillArgs {
  directions: BackfillDirection[]
  restart: boolean
  pageSize: number | undefined
  concurrency: number
  /** Search parameters of `--search`, for from-fhir. */
  patientSearch: Record<string, string>
  help: boolean
}

/** Invalid command-line arguments. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Parses the arguments after `npm run backfill --`. */
export function parseBackfillArgs(argv: readonly string[]): BackfillArgs {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        direction: { type: 'string' },
        restart: { type: 'boolean', default: false },
        'page-size': { type: 'string' },
        concurrency: { type: 'string' },
        search: { type: 'string', multiple: true },
        help: { type: 'boolean', default: false },
      },
    }))
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
  if (values.help) {
    return {
      directions: [],
      restart: false,
      pageSize: undefined,
      concurrency: DEFAULT_CONCURRENCY,
      patientSearch: {},
      help: true,
    }
  }

  const directions = directionsOf(values.direction)
  const pageSizeText = values['page-size']
  const pageSize =
    pageSizeText === undefined ? undefined : integerOption('page-size', pageSizeText, MAX_PAGE_SIZE)
  const concurrencyText = values.concurrency
  const concurrency =
    concurrencyText === undefined
      ? DEFAULT_CONCURRENCY
      : integerOption('concurrency', concurrencyText, MAX_CONCURRENCY)
  const patientSearch = searchOf(values.search ?? [])
  if (Object.keys(patientSearch).length > 0 && !directions.includes('from-fhir')) {
    throw new UsageError('Invalid --search: it narrows the Patients of from-fhir only')
  }
  return { directions, restart: values.restart, pageSize, concurrency, patientSearch, help: false }
}

function integerOption(name: string, text: string, max: number): number {
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < 1 || value > max) {
    throw new UsageError(`Invalid --${name} "${text}": expected an integer from 1 to ${max}`)
  }
  return value
}

/** Reads `NAME=VALUE` pairs. Each name may appear once, because the search sends it once. */
function searchOf(pairs: readonly string[]): Record<string, string> {
  const search: Record<string, string> = {}
  for (const pair of pairs) {
    const equals = pair.indexOf('=')
    const name = pair.slice(0, equals)
    if (equals < 1 || equals === pair.length - 1) {
      throw new UsageError(`Invalid --search "${pair}": expected NAME=VALUE`)
    }
    if (name in search) throw new UsageError(`Invalid --search: ${name} is given twice`)
    search[name] = pair.slice(equals + 1)
  }
  return search
}

function directionsOf(value: string | undefined): BackfillDirection[] {
  switch (value) {
    case 'from-fhir':
    case 'to-fhir':
      return [value]
    case 'both':
      return ['from-fhir', 'to-fhir']
    case undefined:
      throw new UsageError('Missing --direction: expected from-fhir, to-fhir or both')
    default:
      throw new UsageError(`Invalid --direction "${value}": expected from-fhir, to-fhir or both`)
  }
}

/** Formats a result as one line for a terminal: `from-fhir finished: 120 processed in 3s (...)`. */
export function summaryLine(result: BackfillResult): string {
  const counts = Object.entries(result.counts)
    .sort(([, a], [, b]) => b - a)
    .map(([outcome, count]) => `${outcome} ${count}`)
    .join(', ')
  const took = formatDuration(Math.round(result.durationMs / 1000))
  const verb = result.status === 'finished' ? 'finished' : 'stopped; run it again to continue'
  return `${result.direction} ${verb}: ${result.processed} processed in ${took} (${counts || 'nothing to do'})`
}

/**
 * Leaves out info lines when the log and the bar share one terminal, because a line per enrolled
 * patient would push the bar off the screen. Warnings and errors still show.
 */
function logLevelOf(configured: string): string {
  const sharedTerminal = process.stderr.isTTY && process.stdout.isTTY
  return sharedTerminal && configured === 'info' ? 'warn' : configured
}

function failureLine(error: unknown): string {
  if (error instanceof AppError) return `Backfill failed (${error.code}): ${error.message}\n`
  return `Backfill failed: ${error instanceof Error ? error.message : String(error)}\n`
}

async function runDirections(
  registry: Registry,
  args: BackfillArgs,
  signal: AbortSignal,
): Promise<number> {
  for (const direction of args.directions) {
    const progress = process.stderr.isTTY
      ? new BarProgress({ clock: systemClock, stream: process.stderr })
      : undefined
    const result = await registry.backfill.run(direction, {
      restart: args.restart,
      pageSize: args.pageSize,
      concurrency: args.concurrency,
      patientSearch: direction === 'from-fhir' ? args.patientSearch : undefined,
      // Bundles of PUSH_BATCH_SIZE rows, as the push workers write them. A size of 1 turns them off.
      pushBatch:
        registry.config.PUSH_BATCH_SIZE > 1
          ? { batch: registry.pushBatch, size: registry.config.PUSH_BATCH_SIZE }
          : undefined,
      signal,
      progress,
    })
    if (process.stderr.isTTY) process.stderr.write(`${summaryLine(result)}\n`)
    if (result.status === 'stopped') return 130
  }
  return 0
}

/**
 * Fetches with `Accept-Encoding: identity`. HAPI 8.8 gzips every response to a client that
 * accepts gzip, which fetch does by default, and fetch (undici) inflates each response with a
 * zlib stream. Its 16 KiB output buffer and zlib state stay allocated until a garbage collection:
 * about 17 KB of ArrayBuffers per request, against 1 KB uncompressed (Node 24.21). Over the
 * thousands of requests of a backfill they took most of its peak RSS.
 */
export const uncompressedFetch: FetchFunction = (input, init) => {
  const headers = new Headers(init?.headers)
  headers.set('Accept-Encoding', 'identity')
  return fetch(input, { ...init, headers })
}

/** Stops after the page in progress on the first SIGINT or SIGTERM, and at once on the second. */
function stopOnSignals(controller: AbortController, logger: Logger): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130)
    logger.info('Backfill stopping after the page in progress', { signal })
    if (process.stderr.isTTY) {
      process.stderr.write(
        '\nStopping after the page in progress; press Ctrl-C again to quit now\n',
      )
    }
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

async function main(argv: readonly string[]): Promise<number> {
  let args: BackfillArgs
  try {
    args = parseBackfillArgs(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`${error.message}\n\n${USAGE}`)
    return 2
  }
  if (args.help) {
    process.stdout.write(USAGE)
    return 0
  }

  const rssAtStartBytes = process.memoryUsage().rss
  let registry: Registry
  let logger: Logger | undefined
  try {
    // Like `npm start`, the local HAPI's port comes from HAPI_PORT unless FHIR_BASE_URL is set.
    const config = loadConfig(
      process.env,
      process.env.FHIR_BASE_URL === undefined && process.env.HAPI_PORT !== undefined
        ? { FHIR_BASE_URL: `http://127.0.0.1:${process.env.HAPI_PORT}/fhir` }
        : {},
    )
    logger = createLogger(logLevelOf(config.LOG_LEVEL), {
      service: 'brain-registry',
      command: 'backfill',
    })
    registry = await createRegistry(config, { logger, fetch: uncompressedFetch })
  } catch (error) {
    // loadConfig checks the environment, createRegistry the merge rules and the value set file.
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      return 2
    }
    logger?.error('Backfill failed', errorFields(error))
    process.stderr.write(failureLine(error))
    return 1
  }

  const missingFlags = MEMORY_FLAGS.filter((flag) => !process.execArgv.includes(flag))
  if (missingFlags.length > 0) {
    registry.logger.warn('Backfill started without the memory flags of npm run backfill', {
      missingFlags,
      hint: 'Run it as npm run backfill, or pass the flags to node; without them RSS can pass 300 MB',
    })
  }

  const controller = new AbortController()
  stopOnSignals(controller, registry.logger)
  let exitCode: number
  try {
    exitCode = await runDirections(registry, args, controller.signal)
  } catch (error) {
    registry.logger.error('Backfill failed', errorFields(error))
    process.stderr.write(failureLine(error))
    exitCode = 1
  } finally {
    await registry.stop()
  }
  registry.logger.info('Backfill command ended', {
    exitCode,
    rssAtStartBytes,
    rssAtEndBytes: process.memoryUsage().rss,
  })
  return exitCode
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)))
