import { createRegistry } from './app.ts'
import { ConfigError, loadConfig } from './platform/config.ts'
import { createLogger, errorFields } from './platform/logger.ts'

/** Starts the registry as configured by the environment and stops it on SIGINT or SIGTERM. */
export async function main(): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      process.exit(2)
    }
    throw error
  }

  const logger = createLogger(config.LOG_LEVEL, { service: 'brain-registry' })
  let registry
  try {
    registry = await createRegistry(config, { logger })
  } catch (error) {
    // Merge rules and the value set file are checked here, before anything starts.
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info('Stopping', { signal })
    await registry.stop()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))

  try {
    await registry.start()
  } catch (error) {
    logger.error('Start failed', errorFields(error))
    await registry.stop()
    process.exit(1)
  }
}

if (import.meta.main) await main()
