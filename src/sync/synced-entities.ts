import type {
  Condition as FhirCondition,
  Patient as FhirPatient,
  Resource,
} from '@medplum/fhirtypes'
import {
  conditionFieldsOf,
  type ConditionRepository,
  type ConditionRow,
} from '../conditions/condition.repository.ts'
import type { ConditionFields } from '../conditions/condition.schemas.ts'
import { conditionFieldsFromResource } from '../fhir/condition-mapping.ts'
import type { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import { patientFieldsFromResource } from '../fhir/patient-mapping.ts'
import type { FieldShape, MergeView } from '../merge/field-merge.ts'
import type { MergeRule, MergeRules } from '../merge/merge-rules.ts'
import {
  CONDITION_FIELD_SHAPES,
  PATIENT_FIELD_SHAPES,
  conditionFieldsFromMergeView,
  conditionMergeView,
  patientFieldOfMergeField,
  patientFieldsFromMergeView,
  patientMergeView,
} from '../merge/merge-views.ts'
import {
  patientFieldsOf,
  type PatientRepository,
  type PatientRow,
} from '../patients/patient.repository.ts'
import type { PatientFields } from '../patients/patient.schemas.ts'
import type { Executor } from '../platform/db.ts'
import type { EntityType } from '../platform/queue.ts'
import type { FieldChange, SyncedTable } from '../platform/sync-columns.ts'

/** Per-type operations of a synced entity, so that one merge and one push serve both types. */
export interface SyncedEntity<
  Row extends SyncedRow,
  Fields extends Record<string, unknown>,
  R extends Resource,
> {
  entityType: EntityType
  resourceType: R['resourceType']
  table: SyncedTable
  findByFhirId(
    db: Executor,
    fhirId: string,
    options?: { forUpdate?: boolean },
  ): Promise<Row | undefined>
  fieldsOfRow(row: Row): Fields
  fieldsOfResource(resource: R): Fields
  /** Converts the fields to the merge's terms (the patient's own identifier split out). */
  toView(fields: Fields): MergeView
  fromView(view: MergeView): Fields
  shapes: Readonly<Record<string, FieldShape>>
  rules: Readonly<Record<string, MergeRule>>
  /** When the registry last changed a merge field: its stamp in field_changed_at, else updated_at. */
  registryChangedAt(row: Row, field: string): Date
  updateFields(db: Executor, row: Row, fields: Fields, change: FieldChange): Promise<Row>
}

export interface SyncedRow {
  id: string
  version: number
  updated_at: Date
  deleted_at: Date | null
  fhir_id: string | null
  fhir_version_id: number | null
  sync_base: unknown
  field_changed_at: Record<string, string>
}

export type PatientEntity = SyncedEntity<PatientRow, PatientFields, FhirPatient>
export type ConditionEntity = SyncedEntity<ConditionRow, ConditionFields, FhirCondition>

function changedAt(row: SyncedRow, column: string): Date {
  const stamp = row.field_changed_at[column]
  return stamp ? new Date(stamp) : row.updated_at
}

export function patientEntity(
  patients: PatientRepository,
  rules: MergeRules,
  registryIdentifierSystem: string,
): PatientEntity {
  return {
    entityType: 'patient',
    resourceType: 'Patient',
    table: 'patients',
    findByFhirId: (db, fhirId, options) => patients.findByFhirId(db, fhirId, options),
    fieldsOfRow: patientFieldsOf,
    fieldsOfResource: patientFieldsFromResource,
    toView: (fields) => patientMergeView(fields, registryIdentifierSystem),
    fromView: patientFieldsFromMergeView,
    shapes: PATIENT_FIELD_SHAPES,
    rules: rules.patient,
    registryChangedAt: (row, field) => changedAt(row, patientFieldOfMergeField(field)),
    updateFields: (db, row, fields, change) => patients.updateFields(db, row.id, fields, change),
  }
}

export function conditionEntity(
  conditions: ConditionRepository,
  rules: MergeRules,
  valueSet: NeurologyValueSet,
): ConditionEntity {
  return {
    entityType: 'condition',
    resourceType: 'Condition',
    table: 'conditions',
    findByFhirId: (db, fhirId, options) => conditions.findByFhirId(db, fhirId, options),
    fieldsOfRow: conditionFieldsOf,
    fieldsOfResource: conditionFieldsFromResource,
    toView: conditionMergeView,
    fromView: conditionFieldsFromMergeView,
    shapes: CONDITION_FIELD_SHAPES,
    rules: rules.condition,
    registryChangedAt: changedAt,
    updateFields: (db, row, fields, change) =>
      conditions.updateFields(db, row.id, fields, valueSet.containsAny(fields.code.coding), change),
  }
}
