import { sql, type Selectable } from 'kysely'
import {
  toJson,
  toJsonOrNull,
  type ConditionTable,
  type EntitySource,
  type Executor,
  type SyncState,
} from '../platform/db.ts'
import { changeTimes, type FieldChange } from '../platform/sync-columns.ts'
import { type PageCursor, isAfterCursor } from '../platform/paging.ts'
import type { ConditionFields } from './condition.schemas.ts'

export type ConditionRow = Selectable<ConditionTable>

/**
 * Columns of the API representation of a condition (see `toCondition`). API reads select only
 * these, so that no request parses the sync base and the change times without using them.
 */
export const CONDITION_VIEW_COLUMNS = [
  'id',
  'patient_id',
  'source',
  'code',
  'is_neurological',
  'clinical_status',
  'verification_status',
  'onset',
  'abatement',
  'recorded_date',
  'version',
  'created_at',
  'updated_at',
  'updated_by',
  'fhir_id',
  'fhir_version_id',
  'sync_state',
  'sync_error',
] as const

export type ConditionView = Pick<ConditionRow, (typeof CONDITION_VIEW_COLUMNS)[number]>

type ConditionFieldColumns = Pick<
  ConditionRow,
  'code' | 'clinical_status' | 'verification_status' | 'onset' | 'abatement' | 'recorded_date'
>

export interface ConditionFilter {
  patientId?: string
  codeSystem?: string
  code?: string
  isNeurological?: boolean
}

function fieldColumns(fields: ConditionFields, isNeurological: boolean) {
  return {
    code: toJson(fields.code),
    is_neurological: isNeurological,
    clinical_status: fields.clinicalStatus,
    verification_status: fields.verificationStatus,
    onset: toJsonOrNull(fields.onset),
    abatement: toJsonOrNull(fields.abatement),
    recorded_date: fields.recordedDate,
  }
}

/** Reads the mapped fields of a stored row. */
export function conditionFieldsOf(row: ConditionFieldColumns): ConditionFields {
  return {
    code: row.code as ConditionFields['code'],
    clinicalStatus: row.clinical_status,
    verificationStatus: row.verification_status,
    onset: row.onset as ConditionFields['onset'],
    abatement: row.abatement as ConditionFields['abatement'],
    recordedDate: row.recorded_date,
  }
}

/** Queries of the `conditions` table. */
export class ConditionRepository {
  async insert(
    db: Executor,
    row: {
      id: string
      patientId: string
      source: EntitySource
      fields: ConditionFields
      isNeurological: boolean
      updatedBy: string
      updatedAt: Date
      fhirId: string
      fhirVersionId?: number
      fhirLastUpdated?: Date | null
      syncBase?: ConditionFields | null
      syncState?: SyncState
    },
  ): Promise<ConditionRow> {
    return db
      .insertInto('conditions')
      .values({
        id: row.id,
        patient_id: row.patientId,
        source: row.source,
        ...fieldColumns(row.fields, row.isNeurological),
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
  ): Promise<ConditionRow | undefined> {
    let query = db.selectFrom('conditions').selectAll().where('id', '=', id)
    if (!options.includeDeleted) query = query.where('deleted_at', 'is', null)
    if (options.forUpdate) query = query.forUpdate()
    return query.executeTakeFirst()
  }

  /** Reads the API representation's columns of a live condition. */
  async findViewById(db: Executor, id: string): Promise<ConditionView | undefined> {
    return db
      .selectFrom('conditions')
      .select(CONDITION_VIEW_COLUMNS)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
  }

  async findByFhirId(
    db: Executor,
    fhirId: string,
    options: { forUpdate?: boolean } = {},
  ): Promise<ConditionRow | undefined> {
    let query = db.selectFrom('conditions').selectAll().where('fhir_id', '=', fhirId)
    if (options.forUpdate) query = query.forUpdate()
    return query.executeTakeFirst()
  }

  async listLiveByPatient(db: Executor, patientId: string): Promise<ConditionRow[]> {
    return db
      .selectFrom('conditions')
      .selectAll()
      .where('patient_id', '=', patientId)
      .where('deleted_at', 'is', null)
      .execute()
  }

  /** Deleted conditions of a patient that were written to FHIR, so FHIR still has to delete them. */
  async listDeletedInFhirByPatient(db: Executor, patientId: string): Promise<ConditionRow[]> {
    return db
      .selectFrom('conditions')
      .selectAll()
      .where('patient_id', '=', patientId)
      .where('fhir_version_id', 'is not', null)
      .where('deleted_at', 'is not', null)
      .execute()
  }

  async list(
    db: Executor,
    filter: ConditionFilter,
    limit: number,
    after?: PageCursor,
  ): Promise<ConditionView[]> {
    let query = db
      .selectFrom('conditions')
      .select(CONDITION_VIEW_COLUMNS)
      .where('deleted_at', 'is', null)
    if (filter.patientId) query = query.where('patient_id', '=', filter.patientId)
    if (filter.code) {
      const wanted = filter.codeSystem
        ? { system: filter.codeSystem, code: filter.code }
        : { code: filter.code }
      query = query.where('code', '@>', toJson({ coding: [wanted] }))
    }
    if (filter.isNeurological !== undefined)
      query = query.where('is_neurological', '=', filter.isNeurological)
    if (after) query = query.where(isAfterCursor(after))
    return query.orderBy('created_at').orderBy('id').limit(limit).execute()
  }

  /** Replaces the mapped fields and bumps the version. */
  async updateFields(
    db: Executor,
    id: string,
    fields: ConditionFields,
    isNeurological: boolean,
    change: FieldChange,
  ): Promise<ConditionRow> {
    return db
      .updateTable('conditions')
      .set((eb) => ({
        field_changed_at: sql<string>`field_changed_at || ${toJson(changeTimes(change))}::jsonb`,
        ...fieldColumns(fields, isNeurological),
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
