import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import type { Logger } from './logger.ts'

export const MIGRATIONS_DIR = join(import.meta.dirname, '..', '..', 'sql')

const MIGRATION_FILE = /^(\d{3,})_[a-z0-9_]+\.sql$/

/**
 * Applies the numbered SQL files of `sql/` that the schema has not seen yet, in order, each in
 * its own transaction, and records them in `schema_migrations`. An advisory lock keeps two
 * processes that start at once from applying the same file twice.
 */
export async function migrate(pool: pg.Pool, schema: string, logger: Logger): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((name) => MIGRATION_FILE.test(name)).sort()
  const client = await pool.connect()
  const applied: string[] = []
  try {
    await client.query('select pg_advisory_lock(hashtext($1))', [`migrate:${schema}`])
    await client.query(`create schema if not exists ${pg.escapeIdentifier(schema)}`)
    await client.query(`set search_path to ${pg.escapeIdentifier(schema)}`)
    await client.query(
      'create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())',
    )
    const done = new Set(
      (await client.query<{ name: string }>('select name from schema_migrations')).rows.map(
        (row) => row.name,
      ),
    )

    for (const file of files) {
      if (done.has(file)) continue
      const text = await readFile(join(MIGRATIONS_DIR, file), 'utf8')
      await client.query('begin')
      try {
        await client.query(text)
        await client.query('insert into schema_migrations (name) values ($1)', [file])
        await client.query('commit')
      } catch (error) {
        await client.query('rollback')
        throw new Error(`Migration ${file} failed`, { cause: error })
      }
      applied.push(file)
      logger.info('Migration applied', { migration: file, schema })
    }
  } finally {
    await client.query('select pg_advisory_unlock(hashtext($1))', [`migrate:${schema}`])
    client.release()
  }
  return applied
}
