import { sql, type Selectable } from 'kysely'
import {
  toJson,
  toJsonOrNull,
  type EntitySource,
  type Executor,
  type PatientTable,
  type SyncState,
} from '../platform/db.ts'
import { changeTimes, type FieldChange } from '../platform/sync-columns.ts'
import { type PageCursor, isAfterCursor } from '../platform/paging.ts'
import type { PatientFields } from './patient.schemas.ts'

export type PatientRow = Selectable<PatientTable>

/**
 * Columns of the API representation of a patient (see `toPatient`). API reads select only these,
 * because parsing the sync base, the change times and the search text as well took about a
 * third more client CPU for a 51-row page of synced patients (1.0-1.3 ms against 0.7-0.9 ms).
 */
export const PATIENT_VIEW_COLUMNS = [
  'id',
  'source',
  'names',
  'birth_date',
  'gender',
  'identifiers',
  'telecom',
  'addresses',
  'deceased',
  'version',
  'created_at',
  'updated_at',
  'updated_by',
  'fhir_id',
  'fhir_version_id',
  'sync_state',
  'sync_error',
] as const

export type PatientView = Pick<PatientRow, (typeof PATIENT_VIEW_COLUMNS)[number]>

type PatientFieldColumns = Pick<
  PatientRow,
  'names' | 'birth_date' | 'gender' | 'identifiers' | 'telecom' | 'addresses' | 'deceased'
>

export interface PatientFilter {
  name?: string
  identifierSystem?: string
  identifierValue?: string
  birthDatePrefix?: string
  fhirId?: string
}

/** Lower-cased name parts, stored for prefix search by name. */
function searchTextOf(fields: PatientFields): string {
  const parts = fields.names.flatMap((name) => [
    name.family ?? '',
    ...(name.given ?? []),
    ...(name.text ? name.text.split(/\s+/) : []),
  ])
  return ` ${parts.filter(Boolean).join(' ').toLowerCase()} `
}

function fieldColumns(fields: PatientFields) {
  return {
    names: toJson(fields.names),
    birth_date: fields.birthDate,
    gender: fields.gender,
    identifiers: toJson(fields.identifiers),
    telecom: toJson(fields.telecom),
    addresses: toJson(fields.addresses),
    deceased: toJsonOrNull(fields.deceased),
    search_text: searchTextOf(fields),
  }
}

/** Reads the mapped fields of a stored row. */
export function patientFieldsOf(row: PatientFieldColumns): PatientFields {
  return {
    names: row.names as PatientFields['names'],
    birthDate: row.birth_date,
    gender: row.gender,
    identifiers: row.identifiers as PatientFields['identifiers'],
    telecom: row.telecom as PatientFields['telecom'],
    addresses: row.addresses as PatientFields['addresses'],
    deceased: row.deceased as PatientFields['deceased'],
  }
}

/** Queries of the `patients` table. */
export class PatientRepository {
  async insert(
    db: Executor,
    row: {
      id: string
      source: EntitySource
      fields: PatientFields
      updatedBy: string
      updatedAt: Date
      fhirId: string
      fhirVersionId?: number
      fhirLastUpdated?: Date | null
      syncBase?: PatientFields | null
      syncState?: SyncState
    },
  ): Promise<PatientRow> {
    return db
      .insertInto('patients')
      .values({
        id: row.id,
        source: row.source,
        ...fieldColumns(row.fields),
        updated_at: row.updatedAt,
        updated_by: row.updatedBy,
        fhir_id: row.fhirId,
        fhir_version_id: row.fhirVersionId ?? null,
        fhir_last_updated: row.fhirLastUpdated ?? null,
        sync_base: toJsonOrNull(row.syncBase),
        sync_state: row.syncState ?? 'pending',
      })
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  async findById(
    db: Executor,
    id: string,
    options: { forUpdate?: boolean; includeDeleted?: boolean } = {},
  ): Promise<PatientRow | undefined> {
    let query = db.selectFrom('patients').selectAll().where('id', '=', id)
    if (!options.includeDeleted) query = query.where('deleted_at', 'is', null)
    if (options.forUpdate) query = query.forUpdate()
    return query.executeTakeFirst()
  }

  /** Reads the API representation's columns of a live patient. */
  async findViewById(db: Executor, id: string): Promise<PatientView | undefined> {
    return db
      .selectFrom('patients')
      .select(PATIENT_VIEW_COLUMNS)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
  }

  async findByFhirId(
    db: Executor,
    fhirId: string,
    options: { forUpdate?: boolean } = {},
  ): Promise<PatientRow | undefined> {
    let query = db.selectFrom('patients').selectAll().where('fhir_id', '=', fhirId)
    if (options.forUpdate) query = query.forUpdate()
    return query.executeTakeFirst()
  }

  /** Finds live patients that carry an identifier with this system and value. */
  async findByIdentifier(db: Executor, system: string, value: string): Promise<PatientRow[]> {
    return db
      .selectFrom('patients')
      .selectAll()
      .where('deleted_at', 'is', null)
      .where('identifiers', '@>', toJson([{ system, value }]))
      .execute()
  }

  async list(
    db: Executor,
    filter: PatientFilter,
    limit: number,
    after?: PageCursor,
  ): Promise<PatientView[]> {
    let query = db
      .selectFrom('patients')
      .select(PATIENT_VIEW_COLUMNS)
      .where('deleted_at', 'is', null)
    if (filter.name) {
      // Every name part is stored with a leading space, so this is a prefix match on any part.
      const pattern = `% ${filter.name.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`
      query = query.where('search_text', 'like', pattern)
    }
    if (filter.identifierValue) {
      const wanted = filter.identifierSystem
        ? { system: filter.identifierSystem, value: filter.identifierValue }
        : { value: filter.identifierValue }
      query = query.where('identifiers', '@>', toJson([wanted]))
    }
    if (filter.fhirId) query = query.where('fhir_id', '=', filter.fhirId)
    if (filter.birthDatePrefix)
      query = query.where('birth_date', 'like', `${filter.birthDatePrefix}%`)
    if (after) query = query.where(isAfterCursor(after))
    return query.orderBy('created_at').orderBy('id').limit(limit).execute()
  }

  /** Replaces the mapped fields and bumps the version. */
  async updateFields(
    db: Executor,
    id: string,
    fields: PatientFields,
    change: FieldChange,
  ): Promise<PatientRow> {
    return db
      .updateTable('patients')
      .set((eb) => ({
        field_changed_at: sql<string>`field_changed_at || ${toJson(changeTimes(change))}::jsonb`,
        ...fieldColumns(fields),
        version: eb('version', '+', 1),
        updated_at: change.updatedAt,
        updated_by: change.updatedBy,
        sync_state: 'pending',
      }))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
  }
}
