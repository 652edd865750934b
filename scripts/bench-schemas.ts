import pg from 'pg'
import type { Config } from '../src/platform/config.ts'

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
