/**
 * Runs the whole stack on one machine: builds and starts the project's HAPI FHIR server when
 * needed, then the registry API and workers, which create their database and register their
 * Subscriptions. Ctrl-C stops everything this command started.
 *
 * Set START_HAPI=false to use the HAPI server at FHIR_BASE_URL instead.
 */
import { createRegistry } from '../src/app.ts'
import { NeurologyValueSet } from '../src/fhir/neurology-value-set.ts'
import { mergeRulesFrom } from '../src/merge/merge-rules.ts'
import { ConfigError, loadConfig } from '../src/platform/config.ts'
import { createLogger, errorFields } from '../src/platform/logger.ts'
import {
  ensureHapiBuilt,
  ensureHapiDatabase,
  startHapi,
  stopHapi,
  type HapiHandle,
} from './hapi.ts'

const logger = createLogger(process.env.LOG_LEVEL ?? 'info', { service: 'brain-registry' })
const startHapiServer = process.env.START_HAPI !== 'false'

// The settings are checked before HAPI starts, so a typo stops at once and leaves nothing running.
try {
  const settings = loadConfig(process.env)
  mergeRulesFrom(settings.MERGE_RULES)
  NeurologyValueSet.fromFile(settings.NEUROLOGY_VALUE_SET_FILE)
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`${error.message}\n`)
  process.exit(2)
}

const logHapi = (message: string) => {
  logger.info('HAPI', { detail: message })
}

// HAPI runs in its own process group, so a Ctrl-C while it starts (20 to 60 s) does not reach it:
// until the registry's own handlers take over, a signal stops the HAPI this command started.
const start = { interrupted: false }
const stopWhileStarting = (signal: NodeJS.Signals) => {
  if (start.interrupted) return
  start.interrupted = true
  logger.info('Stopping', { signal })
  void (startHapiServer ? stopHapi({ log: logHapi }) : Promise.resolve()).finally(() =>
    process.exit(130),
  )
}
process.on('SIGINT', stopWhileStarting)
process.on('SIGTERM', stopWhileStarting)

let hapi: HapiHandle | undefined
try {
  hapi = startHapiServer
    ? await (async () => {
        await ensureHapiBuilt({ log: logHapi })
        await ensureHapiDatabase({ log: logHapi })
        return startHapi({ log: logHapi })
      })()
    : undefined
} catch (error) {
  if (start.interrupted) await new Promise(() => undefined)
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
// Stopping HAPI takes a few seconds; the signal handler exits once it is down.
if (start.interrupted) await new Promise(() => undefined)
if (hapi) logger.info('HAPI FHIR listening', { url: hapi.baseUrl, startedHere: hapi.startedByUs })

let config
try {
  config = loadConfig(process.env, hapi ? { FHIR_BASE_URL: hapi.baseUrl } : {})
} catch (error) {
  if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`)
  await hapi?.stop()
  process.exit(2)
}

let registry
try {
  registry = await createRegistry(config, { logger })
} catch (error) {
  if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`)
  else logger.error('Start failed', errorFields(error))
  await hapi?.stop()
  process.exit(error instanceof ConfigError ? 2 : 1)
}
const running = registry
let stopping = false
async function stopAll(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info('Stopping', { signal })
  await running.stop()
  await hapi?.stop()
  process.exit(0)
}
process.off('SIGINT', stopWhileStarting)
process.off('SIGTERM', stopWhileStarting)
process.on('SIGINT', () => void stopAll('SIGINT'))
process.on('SIGTERM', () => void stopAll('SIGTERM'))

try {
  await running.start()
} catch (error) {
  logger.error('Start failed', errorFields(error))
  await stopAll('start failure')
}
