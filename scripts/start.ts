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
import { ensureHapiBuilt, ensureHapiDatabase, startHapi } from './hapi.ts'

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

const hapi = startHapiServer
  ? await (async () => {
      const log = (message: string) => {
        logger.info('HAPI', { detail: message })
      }
      await ensureHapiBuilt({ log })
      await ensureHapiDatabase({ log })
      return startHapi({ log })
    })()
  : undefined
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
process.on('SIGINT', () => void stopAll('SIGINT'))
process.on('SIGTERM', () => void stopAll('SIGTERM'))

try {
  await running.start()
} catch (error) {
  logger.error('Start failed', errorFields(error))
  await stopAll('start failure')
}
