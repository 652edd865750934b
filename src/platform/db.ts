import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  type ColumnType,
  type Generated,
  type Transaction,
} from 'kysely'
import pg from 'pg'

// JSON columns come back parsed; they are written as JSON text (see `toJson`), because node-postgres
// would turn a JavaScript array into a Postgres array rather than JSON.
type Json<T> = ColumnType<T, string, string>
type JsonNullable<T> = ColumnType<T | null, string | null, string | null>
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>
type TimestampNullable = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>

export type SyncState = 'pending' | 'synced' | 'conflict' | 'failed'
export type EntitySource = 'registry' | 'external'

/** Columns that every synced row carries. */
interface SyncColumns {
  version: Generated<number>
  created_at: Generated<Date>
  updated_at: Timestamp
  updated_by: string
  deleted_at: TimestampNullable
  fhir_id: string | null
  fhir_version_id: number | null
  fhir_last_updated: TimestampNullable
  sync_base: JsonNullable<unknown>
  sync_state: Generated<SyncState>
  sync_error: string | null
  sync_attempts: Generated<number>
  /** Registry change time of each field, as ISO text, keyed by field name. */
  field_changed_at: ColumnType<Record<string, string>, string | undefined, string>
}

export interface PatientTable extends SyncColumns {
  id: string
  source: EntitySource
  names: Json<unknown>
  birth_date: string | null
  gender: string | null
  identifiers: Json<unknown>
  telecom: Json<unknown>
  addresses: Json<unknown>
  deceased: JsonNullable<unknown>
  search_text: string
}

export interface ConditionTable extends SyncColumns {
  id: string
  patient_id: string
  source: EntitySource
  code: Json<unknown>
  is_neurological: boolean
  clinical_status: string | null
  verification_status: string | null
  onset: JsonNullable<unknown>
  abatement: JsonNullable<unknown>
  recorded_date: string | null
}

export interface FhirNotificationTable {
  id: Generated<string>
  received_at: Generated<Date>
  method: string
  resource_type: string | null
  resource_id: string | null
  version_id: number | null
  payload: JsonNullable<unknown>
  processed_at: TimestampNullable
  outcome: string | null
  /** Reason code of the last merge that parked the notification, kept after it is processed. */
  parked_reason: string | null
  /** Merges that parked the notification so far. */
  attempts: Generated<number>
  next_attempt_at: TimestampNullable
}

export interface ConflictTable {
  id: Generated<string>
  entity_type: 'patient' | 'condition'
  entity_id: string
  field_path: string
  base_value: JsonNullable<unknown>
  registry_value: JsonNullable<unknown>
  fhir_value: JsonNullable<unknown>
  registry_version: number
  fhir_version_id: number
  registry_updated_at: Timestamp
  fhir_updated_at: TimestampNullable
  item_key: string | null
  status: ConflictStatus
  resolution: string | null
  resolved_by: string | null
  resolved_value: JsonNullable<unknown>
  resolution_reason: string | null
  created_at: Generated<Date>
  updated_at: Timestamp
  resolved_at: TimestampNullable
}

export type ConflictStatus = 'open' | 'resolved' | 'dismissed'

/** The source of a change recorded in the audit log. */
export type AuditSource = 'user' | 'fhir-merge' | 'steward' | 'drift'

export interface AuditLogTable {
  id: Generated<string>
  occurred_at: Timestamp
  actor: string
  source: AuditSource
  action: string
  entity_type: 'patient' | 'condition' | 'user'
  entity_id: string
  before: JsonNullable<unknown>
  after: JsonNullable<unknown>
  request_id: string | null
  conflict_id: string | null
}

/** A local user who signs in with a password. */
export interface UserTable {
  id: string
  username: string
  password_hash: string
  roles: string[]
  disabled: Generated<boolean>
  created_at: Timestamp
  updated_at: Timestamp
  created_by: string
  tokens_valid_from: TimestampNullable
}

/** Failed sign-ins of one account or address within the current window. */
export interface LoginFailureTable {
  key: string
  failures: number
  window_started_at: Timestamp
  locked_until: TimestampNullable
}

/** One backfill run; `cursor` is shaped by the direction (see src/sync/backfill-cursor.ts). */
export interface BackfillRunTable {
  id: string
  direction: 'from-fhir' | 'to-fhir'
  status: 'running' | 'finished' | 'abandoned'
  cursor: JsonNullable<unknown>
  search: Json<Record<string, string>>
  processed: ColumnType<number, number | undefined, number>
  counts: Json<Record<string, number>>
  started_at: Timestamp
  updated_at: Timestamp
  finished_at: TimestampNullable
}

/** One run of the drift job; sql/006_drift.sql describes each column. */
export interface DriftRunTable {
  id: Generated<string>
  kind: 'catch-up' | 'verification'
  status: DriftRunStatus
  requested_by: DriftRequester
  job_id: string | null
  attempts: Generated<number>
  created_at: Generated<Date>
  started_at: TimestampNullable
  finished_at: TimestampNullable
  cursor_from: TimestampNullable
  cursor_to: TimestampNullable
  counts: ColumnType<Record<string, number>, string | undefined, string>
  progress: JsonNullable<unknown>
  error: string | null
}

export type DriftRunStatus = 'queued' | 'running' | 'finished' | 'failed'
export type DriftRequester = 'schedule' | 'api' | 'rest-hook'

/** The catch-up's history position for one resource type, in HAPI's time. */
export interface DriftCursorTable {
  resource_type: string
  cursor: Timestamp
  run_id: string | null
  updated_at: Timestamp
}

/** One difference a verification run found between a registry row and its FHIR resource. */
export interface DriftFindingTable {
  id: Generated<string>
  run_id: string
  entity_type: 'patient' | 'condition'
  entity_id: string
  fhir_id: string | null
  kind: string
  fields: ColumnType<string[], string | undefined, string>
  action: string
  registry_fhir_version_id: number | null
  fhir_version_id: number | null
  fhir_status: 'found' | 'deleted' | 'missing'
  created_at: Generated<Date>
}

export interface Database {
  patients: PatientTable
  conditions: ConditionTable
  fhir_notifications: FhirNotificationTable
  conflicts: ConflictTable
  audit_log: AuditLogTable
  drift_runs: DriftRunTable
  drift_cursors: DriftCursorTable
  drift_findings: DriftFindingTable
  backfill_runs: BackfillRunTable
  users: UserTable
  login_failures: LoginFailureTable
}

/** A database handle or an open transaction; every repository method takes one. */
export type Executor = Kysely<Database> | Transaction<Database>

/** Serialises a value for a jsonb column. */
export function toJson(value: unknown): string {
  return JSON.stringify(value)
}

/** Serialises a nullable value for a jsonb column, keeping SQL null for null. */
export function toJsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value)
}

/**
 * Creates the connection pool, with every connection's search_path set to the registry schema so
 * that queries need no schema prefix and tests can give each file its own schema.
 */
export function createPool(databaseUrl: string, schema: string, max: number): pg.Pool {
  return new pg.Pool({ connectionString: databaseUrl, max, options: `-c search_path=${schema}` })
}

export function createDb(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
}

/** Runs raw SQL with positional parameters on an executor (used by pg-boss's `db` option). */
export async function executeRaw(
  executor: Executor,
  text: string,
  values: readonly unknown[] = [],
): Promise<{ rows: unknown[] }> {
  const result = await executor.executeQuery(CompiledQuery.raw(text, [...values]))
  return { rows: result.rows }
}

/** Creates the database named in `databaseUrl` when it does not exist yet. */
export async function ensureDatabaseExists(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl)
  const name = decodeURIComponent(url.pathname.slice(1))
  url.pathname = '/postgres'
  const client = new pg.Client({ connectionString: url.toString() })
  await client.connect()
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name])
    if (found.rowCount !== 0) return false
    await client.query(`create database ${pg.escapeIdentifier(name)}`)
    return true
  } catch (error) {
    // Another process may have created it between the check and the create.
    if ((error as { code?: string }).code === '42P04') return false
    throw error
  } finally {
    await client.end()
  }
}
